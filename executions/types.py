"""The plain types of a run, for whoever starts one: what to run (`TurnSpec`, its hooks)
and how it ended (`RunResult`, the runtime's one frozen result type).

No runner and no provider in here: a service that describes a run (chat.services,
executions.agent_runs, executions.approvals) imports these without importing the async
runner, and through it both provider SDKs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agents.runtime.types import AgentRun, RunResult

if TYPE_CHECKING:
    from executions import log
    from executions.models import Execution

__all__ = ["AfterHook", "FinishHook", "HeartbeatHook", "RunResult", "Startable", "Started",
           "TurnSpec"]

FinishHook = Callable[[RunResult], object]  # sync; runs inside the finishing transaction
# sync; renews the starter's leases of these executions (e.g. their sessions' locks): one
# call per flush of renewals for every run that has the same hook, so it is one statement
HeartbeatHook = Callable[[Sequence[str]], None]
# async; a follow-up task started once the end is stored and the terminal event published
# (e.g. the session's summarizer): it never delays the turn and its failure is its own
AfterHook = Callable[[RunResult], Awaitable[object]]


@dataclass
class TurnSpec:
    execution_id: str
    run: AgentRun
    first_event: dict[str, Any] | None = None
    on_finish: FinishHook | None = None
    on_heartbeat: HeartbeatHook | None = None
    after_finish: AfterHook | None = None
    # the row as its starter created it: what the trace needs (ids, trace id, agent name,
    # input) without reading it again at the end of the turn
    execution: Execution | None = None
    # parking: how long a call needing approval waits, and what then happens
    approval_timeout_seconds: float = 86400.0
    approval_on_timeout: str = "deny"
    # a resumed run: the events its execution had before it parked (the sequence goes on)
    replay: list[log.Event] = field(default_factory=list)


class Startable(Protocol):
    """What a starter's trip to the database returns (chat.services.Turn, Started): the
    execution, and the run to start (None: an idempotent retry of a turn already started,
    which runs wherever it was started)."""

    @property
    def execution_id(self) -> str:
        """The execution the turn runs as."""

    @property
    def spec(self) -> TurnSpec | None:
        """The run to start, or None."""


@dataclass(frozen=True)
class Started:
    execution_id: str
    spec: TurnSpec | None
