"""The runner: one asyncio task per execution, not tied to the connection that started it.

Every event gets the next sequence number, is kept in memory for local followers,
published on the bus, and appended to the durable log by a flusher that writes at most
every FLUSH_INTERVAL seconds (content deltas coalesced, never a write per token; each run's
batch in a transaction of its own). When the run ends the execution is finished and the
starter's finish hook runs (in one transaction) before the terminal event is published, so
a client that sees `done` can read the stored reply. A run whose events or end cannot be
stored ends failed with the reason (its session freed at once), storing what it can.

A run that calls a tool needing approval parks (see executions/approvals.py): what it
needs to continue is stored, its task ends, and whichever process gets the decision
starts a runner from that state whose events continue the same sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from django.conf import settings
from django.db import DataError, IntegrityError, transaction

from agents.runtime.loop import run_agent
from agents.runtime.types import (
    ContentEvent,
    RunEvent,
    RunState,
    ThinkingEvent,
    ToolEndEvent,
    ToolStartEvent,
)
from executions import bus, log, services, traces
from executions.types import AfterHook, HeartbeatHook, RunResult, Startable, TurnSpec
from promptrails.db import run_db
from promptrails.storable import storable_text

logger = logging.getLogger("promptrails.runner")
FLUSH_INTERVAL = 0.2


@dataclass
class LocalRun:
    """An execution running in this process."""

    spec: TurnSpec
    events: list[log.Event] = field(default_factory=list)
    pending: list[log.Event] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    finished: RunResult | None = None
    cancel_requested: bool = False
    abandoned: bool = False
    agent_task: asyncio.Task[Any] | None = None
    flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loop: asyncio.AbstractEventLoop | None = None
    flush_failures: int = 0  # consecutive flushes that could not write its events
    storage_error: str | None = None  # set when its events cannot be stored: it ends failed

    def events_after(self, seq: int) -> list[log.Event]:
        return [e for e in self.events if e["seq"] > seq]

    def cancel(self) -> None:
        self.cancel_requested = True
        if self.agent_task is not None and not self.agent_task.done():
            self.agent_task.cancel()

    def fail(self, error: str) -> None:
        """Stop because what it produces cannot be stored: it ends failed with `error`."""
        if self.storage_error is None:
            self.storage_error = error
        self.cancel()

    def abandon(self) -> None:
        """Stop without storing anything: the execution was already ended elsewhere (its
        lease went stale and recovery stored the partial reply and freed the session)."""
        self.abandoned = True
        self.cancel()


_RUNS: dict[str, LocalRun] = {}
_TASKS: set[asyncio.Task[Any]] = set()
_housekeepers: dict[int, asyncio.Task[Any]] = {}
HEARTBEAT_POLL = 1.0


async def _housekeeping() -> None:
    """One task per event loop does the periodic work of all its runs, batched.

    Every FLUSH_INTERVAL: write every run's new events to the log in one database call.
    Every HEARTBEAT_POLL: notice cancel requests made elsewhere (one query for all runs);
    every lease/3: renew all leases (one UPDATE). Every lease/2, unless settings.SWEEPS is
    off: end executions whose process died (stale lease) and free their sessions, and apply
    the default of overdue approvals.
    """
    loop = asyncio.get_running_loop()
    lease = settings.TURN_LEASE_SECONDS
    last_poll = last_renew = time.monotonic()
    last_sweep = 0.0
    while True:
        await asyncio.sleep(FLUSH_INTERVAL)
        runs = [run for run in _RUNS.values() if run.loop is loop]
        try:
            await _flush(runs)
        except Exception:
            logger.exception("event log flush failed")
        now = time.monotonic()
        if runs and now - last_poll >= HEARTBEAT_POLL:
            last_poll = now
            renew = now - last_renew >= max(lease / 3, 0.5)
            if renew:
                last_renew = now
            await _heartbeat(runs, renew)
        if settings.SWEEPS and now - last_sweep >= max(lease / 2, 1):
            last_sweep = now
            await _sweep(runs)


async def _heartbeat(runs: list[LocalRun], renew: bool) -> None:
    """Renew the runs' leases (when due); stop those cancelled or ended elsewhere."""
    try:
        cancelled, ended = await run_db(_beat, runs, renew)
    except Exception:
        logger.exception("heartbeat failed")
        return
    for run in runs:
        if run.spec.execution_id in ended:
            run.abandon()
        elif run.spec.execution_id in cancelled:
            run.cancel()


async def _sweep(runs: list[LocalRun]) -> None:
    """End the runs whose process died (never `runs`, alive here); decide the approvals
    that are overdue."""
    alive = {run.spec.execution_id for run in runs}
    try:
        await run_db(lambda: services.executions_recover_stale(alive=alive))
    except Exception:
        logger.exception("recovery sweep failed")
    try:
        from executions import approvals

        start_all(await run_db(approvals.approvals_expire_due))
    except Exception:
        logger.exception("approval expiry sweep failed")


def _ensure_housekeeping(loop: asyncio.AbstractEventLoop) -> None:
    task = _housekeepers.get(id(loop))
    if task is None or task.done():
        _housekeepers[id(loop)] = loop.create_task(_housekeeping(), name="runner-housekeeping")


def ensure_housekeeping() -> None:
    """Start this event loop's housekeeping if it is not running: the ASGI app calls it on
    every connection, so a process sweeps stale runs and expired approvals from its first
    request on, not only once it has run a turn of its own (e.g. after a restart)."""
    _ensure_housekeeping(asyncio.get_running_loop())


def running_count() -> int:
    """Executions running in this process."""
    return len(_RUNS)


def busy_count() -> int:
    """Runs and their follow-ups (summaries, memory) still working in this process."""
    return len(_TASKS)


def local_run(execution_id: str) -> LocalRun | None:
    return _RUNS.get(execution_id)


def runs_here(execution_id: str) -> bool:
    """Whether the execution runs in this process (its events are in memory here)."""
    return execution_id in _RUNS


def events_after(execution_id: str, seq: int) -> list[log.Event] | None:
    """The events after `seq` of an execution that runs in this process; None when it does
    not run here (then its events are in the log)."""
    run = _RUNS.get(execution_id)
    return None if run is None else run.events_after(seq)


S = TypeVar("S", bound=Startable)


async def start_turn(described: Awaitable[S]) -> S:
    """The one way a transport starts a turn (REST and SSE send, WebSocket, browser chat,
    agent execute): `described` is its trip to the database thread, which validated the
    request, stored what the turn needs and described the run (chat.services.turn_start,
    executions.agent_runs.agent_execute_start). The run then starts here, as a task of
    this event loop that no connection owns. A turn without a spec (an idempotent retry)
    already runs wherever it was started: the transport follows it."""
    turn = await described
    if turn.spec is not None:
        start(turn.spec)
    return turn


def start(spec: TurnSpec) -> LocalRun:
    """Start the run as a task of the running loop and return its handle."""
    run = LocalRun(spec=spec, events=list(spec.replay))
    _RUNS[spec.execution_id] = run
    loop = asyncio.get_running_loop()
    run.loop = loop
    _ensure_housekeeping(loop)
    task = loop.create_task(_run(run), name=f"run-{spec.execution_id}")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return run


async def _emit(run: LocalRun, event: dict[str, Any]) -> None:
    event = {"seq": len(run.events) + 1, **event}
    run.events.append(event)
    run.pending.append(event)
    await bus.publish(bus.execution_group(run.spec.execution_id), event)


async def _flush(runs: list[LocalRun]) -> None:
    """Write the new events of these runs to the log, in one database call.

    Each run's batch is written on its own: one run whose events cannot be stored never
    costs another run its events. A batch that fails goes back in front of its run's
    pending events (written with the next flush, or with the run's end); a run whose rows
    are refused (or that failed MAX_FLUSH_FAILURES flushes in a row) is stopped and ends
    failed (see _finish)."""
    async with contextlib.AsyncExitStack() as stack:
        batches: dict[str, list[log.Event]] = {}
        flushing: list[LocalRun] = []
        for run in runs:
            if run.pending:
                await stack.enter_async_context(run.flush_lock)
                batches[run.spec.execution_id], run.pending = run.pending, []
                flushing.append(run)
        if not batches:
            return
        try:
            failed = await run_db(_append, batches)
        except Exception:  # not even tried (e.g. no database thread): all of them wait
            for run in flushing:
                run.pending = batches[run.spec.execution_id] + run.pending
            raise
        for run in flushing:
            error = failed.get(run.spec.execution_id)
            if error is None:
                run.flush_failures = 0
                continue
            run.pending = batches[run.spec.execution_id] + run.pending
            run.flush_failures += 1
            if _refused(error) or run.flush_failures >= MAX_FLUSH_FAILURES:
                run.fail(_storage_error(error))


MAX_FLUSH_FAILURES = 25  # 5 s or more of a run's events not written (every 0.2 s)


def _refused(error: BaseException) -> bool:
    """The rows themselves were refused (e.g. a NUL character on PostgreSQL, sequence
    numbers already taken because the run was ended elsewhere): writing them again fails
    again. Other errors (a lost connection, a locked database) may pass."""
    return isinstance(error, DataError | IntegrityError | ValueError)


def _storage_error(error: BaseException) -> str:
    return f"could not store the run's events ({type(error).__name__})"


def _append(batches: dict[str, list[log.Event]]) -> dict[str, Exception]:
    """Write every run's batch in one transaction (one commit per flush, however many runs
    stream); when that fails, each run's batch in a transaction of its own, so one run's
    refused rows cost no other run its events. The errors of those that failed."""
    if len(batches) > 1:
        try:
            with transaction.atomic():
                log.append_many(batches)
            return {}
        except Exception:  # tried again run by run below, which names the culprit
            logger.debug("a flush of %d runs failed; writing each on its own", len(batches))
    failed: dict[str, Exception] = {}
    for execution_id, events in batches.items():
        try:
            with transaction.atomic():
                log.append(execution_id, events)
        except Exception as exc:
            logger.error("could not write %d event(s) of execution %s to its log: %r",
                         len(events), execution_id, exc)
            failed[execution_id] = exc
    return failed


def _beat(runs: list[LocalRun], renew: bool) -> tuple[set[str], set[str]]:
    """Renew the runs' leases (when due); return the ids with a pending cancel request and
    the ids that were already ended elsewhere (recovered as "interrupted" while starved)."""
    ids = [run.spec.execution_id for run in runs]
    if renew:
        hooks: dict[HeartbeatHook, list[str]] = {}
        for run in runs:
            if run.spec.on_heartbeat is not None:
                hooks.setdefault(run.spec.on_heartbeat, []).append(run.spec.execution_id)
        # one commit, one statement per kind of lease (1,000 streams: not 1,001 of each)
        with transaction.atomic():
            services.executions_heartbeat(execution_ids=ids)
            for hook, hooked in hooks.items():
                hook(hooked)
    return (services.executions_cancel_requested(execution_ids=ids),
            services.executions_ended(execution_ids=ids))


async def _control(run: LocalRun) -> None:
    async with bus.subscribe(bus.control_group(run.spec.execution_id)) as sub:
        while True:
            message = await sub.get()
            if message and message.get("action") == "cancel":
                run.cancel()


def _event_of(item: RunEvent) -> dict[str, Any]:
    if isinstance(item, ContentEvent):
        return {"type": "content", "content": item.content}
    if isinstance(item, ThinkingEvent):
        return {"type": "thinking", "content": item.content}
    if isinstance(item, ToolStartEvent):
        return {"type": "tool_start", "id": item.id, "name": item.name}
    if isinstance(item, ToolEndEvent):
        return {"type": "tool_end", "id": item.id, "name": item.name, "summary": item.summary}
    raise TypeError(f"unknown run event {item!r}")


async def _run(run: LocalRun) -> None:
    spec = run.spec
    started = time.monotonic()
    state = RunState()
    helpers: list[asyncio.Task[Any]] = []
    finished: RunResult | None = None
    try:
        if spec.first_event is not None:
            await _emit(run, spec.first_event)
        helpers = [asyncio.get_running_loop().create_task(_control(run))]
        finished = await _run_agent(run, state, started)
    except asyncio.CancelledError:
        finished = _partial(spec, state, started, "failed", "interrupted")
        raise
    except Exception as exc:
        logger.exception("execution %s failed", spec.execution_id)
        finished = _partial(spec, state, started, "failed", f"internal error: {exc}")
    finally:
        await _end(run, helpers, finished)


async def _run_agent(run: LocalRun, state: RunState, started: float) -> RunResult | None:
    """Run the agent loop as a task a cancel can stop: how the run ended (partial when
    cancelled, or when its events could not be stored), or None when it parked."""
    spec = run.spec

    async def emit(item: RunEvent) -> None:
        await _emit(run, _event_of(item))

    run.agent_task = asyncio.get_running_loop().create_task(run_agent(spec.run, emit, state))
    if run.cancel_requested:
        run.agent_task.cancel()
    try:
        result = await run.agent_task
        if result.parked is not None:
            if not run.cancel_requested and await _park(run, result):
                return None
            result = replace(result, status="cancelled", error="cancelled",
                             incomplete=True, parked=None)
    except asyncio.CancelledError:
        if not run.cancel_requested:
            raise
        if run.storage_error is not None:
            return _partial(spec, state, started, "failed", run.storage_error)
        return _partial(spec, state, started, "cancelled", "cancelled")
    return replace(result, execution_id=spec.execution_id, duration_ms=_ms(started))


async def _end(run: LocalRun, helpers: list[asyncio.Task[Any]],
               finished: RunResult | None) -> None:
    """Stop the run's helpers, store its end (unless it parked or was abandoned), start
    its follow-up, and forget it."""
    spec = run.spec
    for task in helpers:
        task.cancel()
    await asyncio.gather(*helpers, return_exceptions=True)
    if finished is not None and not run.abandoned:
        await _finish(run, finished)
        if spec.after_finish is not None:
            _follow_up(spec.after_finish, run.finished or finished)
    if _RUNS.get(spec.execution_id) is run:  # not a resumed run of it, started meanwhile
        del _RUNS[spec.execution_id]
    run.done.set()


def _follow_up(hook: AfterHook, finished: RunResult) -> None:
    async def guarded() -> None:
        try:
            await hook(finished)
        except Exception:
            logger.exception("the follow-up of execution %s failed", finished.execution_id)

    task = asyncio.get_running_loop().create_task(
        guarded(), name=f"after-{finished.execution_id}")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def _partial(spec: TurnSpec, state: RunState, started: float, status: str,
             error: str) -> RunResult:
    return replace(state.result(status, error, incomplete=True),
                   model_id=state.model_id or spec.run.model.model_id,
                   execution_id=spec.execution_id, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _store(spec: TurnSpec, finished: RunResult, events: list[log.Event]) -> None:
    """The end of a run in one transaction: the execution, its spans, the starter's finish
    hook (the reply), and the log's last events up to the terminal one — a follower that
    reads "done" from the log finds the reply stored."""
    with transaction.atomic():
        services.execution_finish(finished=finished)
        traces.spans_record(finished, execution=spec.execution)
        if spec.on_finish is not None:
            spec.on_finish(finished)
        log.append(spec.execution_id, events)


def _store_failed(spec: TurnSpec, finished: RunResult, events: list[log.Event]) -> bool:
    """The end of a run whose end could not be stored as it was (its events, its reply):
    `finished` (failed, with the reason) in one transaction, unless the execution was
    already ended elsewhere (then nothing: like an abandoned run). Each event is written
    if it can be (one bad event costs only itself); the reply is stored as it is, else
    cleaned of what a database refuses, else without its text, so the session is freed
    whatever the reply holds. False if even that could not be stored."""
    contents = dict.fromkeys((finished.content, storable_text(finished.content), ""))
    for content in contents:
        try:
            return _store_failed_as(spec, replace(finished, content=content), events)
        except Exception:
            logger.exception("could not store the failed end of execution %s",
                             spec.execution_id)
    return False


def _store_failed_as(spec: TurnSpec, finished: RunResult, events: list[log.Event]) -> bool:
    """One try of _store_failed, in one transaction: False (nothing written) when the
    execution was already ended elsewhere."""
    with transaction.atomic():
        if not services.execution_finish(finished=finished, if_active=True):
            return False
        traces.spans_record(finished, execution=spec.execution)
        if spec.on_finish is not None:
            spec.on_finish(finished)
        _append_each(spec.execution_id, events)
    return True


def _append_each(execution_id: str, events: list[log.Event]) -> None:
    """Append the events, skipping (and logging) any the database refuses."""
    try:
        with transaction.atomic():
            log.append(execution_id, events)
        return
    except Exception as exc:
        logger.warning("events of execution %s refused together (%r): writing each alone",
                       execution_id, exc)
    for event in events:
        try:
            with transaction.atomic():
                log.append(execution_id, [event])
        except Exception as exc:
            logger.error("event %s of execution %s cannot be stored: %r", event["seq"],
                         execution_id, exc)


def _terminal(finished: RunResult) -> dict[str, Any]:
    if finished.status == "completed":
        return {
            "type": "done",
            "output": {"content": finished.content},
            "token_usage": finished.token_usage(),
            "time": round(finished.duration_ms / 1000, 3),
        }
    message = finished.error or finished.status
    return {"type": "error", "message": message, "error": message}


async def _finish(run: LocalRun, finished: RunResult) -> None:
    """Store the end (see _store) and publish the terminal event. When that cannot be
    stored — or the run's events could not be (run.storage_error) — the run ends failed
    with the reason instead (see _store_failed), so its session is freed now, not when
    its lease runs out."""
    seq = len(run.events) + 1
    async with run.flush_lock:  # after any flush of earlier events still under way
        pending, run.pending = run.pending, []
        error = run.storage_error
        if error is None:
            terminal = {"seq": seq, **_terminal(finished)}
            error = await _store_end(run.spec, finished, [*pending, terminal])
        if error is not None:
            finished = replace(finished, status="failed", error=error, incomplete=True)
            terminal = {"seq": seq, **_terminal(finished)}
            await _store_failed_end(run.spec, finished, [*pending, terminal])
    run.finished = finished
    run.events.append(terminal)
    await bus.publish(bus.execution_group(run.spec.execution_id), terminal)


async def _store_end(spec: TurnSpec, finished: RunResult,
                     events: list[log.Event]) -> str | None:
    """Store the end (see _store); None, or why it could not be stored."""
    try:
        await run_db(_store, spec, finished, events)
    except Exception as exc:
        logger.exception("could not store the end of execution %s", spec.execution_id)
        return f"could not store the end of the run ({type(exc).__name__})"
    return None


async def _store_failed_end(spec: TurnSpec, finished: RunResult,
                            events: list[log.Event]) -> None:
    """Store the failed end (see _store_failed); logged when even that is not stored."""
    try:
        if not await run_db(_store_failed, spec, finished, events):
            logger.warning("the end of execution %s was not stored (ended elsewhere, "
                           "or the database refused it)", spec.execution_id)
    except Exception:
        logger.exception("could not store the end of execution %s", spec.execution_id)


async def _park(run: LocalRun, result: Any) -> bool:
    """Store the parked run and its events (ending with `approval_required`) and publish
    that event; False when the execution is no longer running (a cancel came first: the
    run then ends cancelled)."""
    from executions import approvals

    async with run.flush_lock:
        pending, run.pending = run.pending, []
        seq = len(run.events) + 1
        try:
            event = await run_db(approvals.park, spec=run.spec, result=result,
                                 events=pending, seq=seq)
        except Exception:
            logger.exception("could not park execution %s", run.spec.execution_id)
            run.storage_error = "could not store the run waiting for approval"
            return False
    if event is None:
        async with run.flush_lock:
            run.pending = pending + run.pending
        return False
    run.events.append(event)
    await bus.publish(bus.execution_group(run.spec.execution_id), event)
    return True


def start_all(specs: list[TurnSpec]) -> None:
    """Start resumed runs (from a decision or an expiry) in this process."""
    for spec in specs:
        start(spec)


async def request_cancel(execution_id: str) -> None:
    """Tell the runner, in this process or another, to stop."""
    run = local_run(execution_id)
    if run is not None:
        run.cancel()
    await bus.publish(bus.control_group(execution_id), {"action": "cancel"})
