"""Execution writes: create, start, heartbeat, finish, cancel, recover."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.runtime.types import Usage
from executions import bus, log
from executions.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    LEASED_STATUSES,
    Execution,
    ExecutionStatus,
)
from executions.types import RunResult
from promptrails.errors import NotAllowed
from promptrails.ids import new_id
from promptrails.models import Workspace

logger = logging.getLogger("promptrails.executions")


def execution_create(
    *,
    workspace: Workspace,
    agent_id: str | None,
    agent_name: str,
    agent_version_id: str | None,
    input: dict[str, Any],
    session_id: str | None = None,
    user_id: int | None = None,
    execution_id: str | None = None,
    model: str = "",
) -> Execution:
    """The execution of a run that starts right after this commits: created running (its
    heartbeat set now), so the runner needs no second write before calling the model."""
    now = timezone.now()
    return Execution.objects.create(
        id=execution_id or new_id(),
        workspace=workspace,
        agent_id=agent_id,
        agent_name=agent_name,
        agent_version_id=agent_version_id,
        session_id=session_id,
        user_id=user_id,
        input=input,
        model=model,
        status=ExecutionStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        trace_id=secrets.token_hex(16),
    )


def executions_heartbeat(*, execution_ids: list[str]) -> None:
    """Renew the leases of executions running in this process."""
    Execution.objects.filter(pk__in=execution_ids, status__in=ACTIVE_STATUSES).update(
        heartbeat_at=timezone.now()
    )


def executions_cancel_requested(*, execution_ids: list[str]) -> set[str]:
    return set(
        Execution.objects.filter(
            pk__in=execution_ids, status=ExecutionStatus.CANCEL_REQUESTED
        ).values_list("id", flat=True)
    )


def executions_ended(*, execution_ids: list[str]) -> set[str]:
    return set(
        Execution.objects.filter(pk__in=execution_ids, status__in=FINISHED_STATUSES)
        .values_list("id", flat=True)
    )


def execution_finish(*, finished: RunResult, if_active: bool = False) -> bool:
    """Store how the run ended; with `if_active`, only if it was not ended elsewhere (e.g.
    recovered as "interrupted"). True if the row was written."""
    now = timezone.now()
    output = {"content": finished.content} if finished.status == "completed" else (
        {"content": finished.content, "incomplete": True} if finished.content else None
    )
    rows = Execution.objects.filter(pk=finished.execution_id)
    if if_active:
        rows = rows.filter(status__in=ACTIVE_STATUSES)
    return bool(rows.update(
        status=finished.status,
        output=output,
        error=finished.error,
        model=finished.model_id,
        prompt_tokens=finished.usage.prompt_tokens,
        completion_tokens=finished.usage.completion_tokens,
        cached_tokens=finished.usage.cached_tokens,
        reasoning_tokens=finished.usage.reasoning_tokens,
        total_tokens=finished.usage.total_tokens,
        cost=finished.cost,
        duration_ms=finished.duration_ms,
        completed_at=now,
        updated_at=now,
    ))


def execution_request_cancel(*, execution: Execution) -> Execution:
    """Cooperative cancel: flag it; the runner (wherever it runs) stops and stores the rest."""
    if execution.is_finished:
        raise NotAllowed(f"Execution is already {execution.status}.")
    Execution.objects.filter(pk=execution.pk, status__in=ACTIVE_STATUSES).update(
        status=ExecutionStatus.CANCEL_REQUESTED, updated_at=timezone.now()
    )
    execution.refresh_from_db()
    return execution


def stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.TURN_LEASE_SECONDS)


INTERRUPTED = "interrupted"  # the error of a run whose process died


def _interrupted_event(seq: int) -> log.Event:
    return {"seq": seq, "type": "error", "message": INTERRUPTED, "error": INTERRUPTED}


def execution_interrupt(*, execution_id: str) -> RunResult | None:
    """End an execution whose process died: failed "interrupted", partial reply from the log.

    Returns what the run had produced, or None when it was not stale after all. The log's
    terminal event is numbered after the last *logged* event (followers may have seen later
    ones live: executions.follow renumbers it for them) and published on the bus once this
    commits, so followers in any process end at once.
    """
    with transaction.atomic():
        claimed = Execution.objects.filter(
            pk=execution_id, status__in=LEASED_STATUSES, heartbeat_at__lt=stale_before()
        ).update(status=ExecutionStatus.FAILED, error=INTERRUPTED, completed_at=timezone.now())
        if not claimed:
            claimed = Execution.objects.filter(
                pk=execution_id, status__in=LEASED_STATUSES, heartbeat_at__isnull=True,
                created_at__lt=stale_before(),
            ).update(status=ExecutionStatus.FAILED, error=INTERRUPTED,
                     completed_at=timezone.now())
        if not claimed:
            return None
        events = log.read(execution_id)
        content = "".join(e.get("content", "") for e in events if e["type"] == "content")
        last_seq = events[-1]["seq"] if events else 0
        if not any(e["type"] in log.TERMINAL_TYPES for e in events):
            terminal = _interrupted_event(last_seq + 1)
            log.append(execution_id, [terminal])
            transaction.on_commit(lambda: _publish_terminal(execution_id, terminal))
        if content:
            Execution.objects.filter(pk=execution_id).update(
                output={"content": content, "incomplete": True}
            )
    return RunResult(
        execution_id=execution_id, status="failed", content=content, error=INTERRUPTED,
        incomplete=True, usage=Usage(), cost=0.0, model_id="", duration_ms=0,
    )


def _publish_terminal(execution_id: str, terminal: log.Event) -> None:
    try:
        bus.publish_from_thread(bus.execution_group(execution_id), terminal)
    except Exception:  # the bus is best effort: followers also poll the log when idle
        logger.warning("could not publish the end of execution %s", execution_id, exc_info=True)


def stale_execution_ids(limit: int = 100) -> list[str]:
    """Active executions whose lease ran out, oldest first (so each sweep reaches the ones
    that have waited longest, whatever newer ones do)."""
    cutoff = stale_before()
    active = Execution.objects.filter(status__in=LEASED_STATUSES)  # a parked run has none
    return list(
        active.filter(heartbeat_at__lt=cutoff).order_by("heartbeat_at", "id")
        .values_list("id", flat=True)[:limit]
    ) + list(
        active.filter(heartbeat_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at", "id").values_list("id", flat=True)[:limit]
    )


# What the starter of runs does with one whose process died: called inside the recovery
# transaction with what the run produced and the execution row as recovery left it.
RecoveryHook = Callable[[RunResult, Execution], None]
_recovery_hooks: list[RecoveryHook] = []


def register_recovery_hook(hook: RecoveryHook) -> None:
    """The starter of runs (chat) registers what to do with a run whose process died."""
    if hook not in _recovery_hooks:
        _recovery_hooks.append(hook)


def _recover(execution_id: str, *, hooks: bool) -> bool:
    with transaction.atomic():
        finished = execution_interrupt(execution_id=execution_id)
        if finished is None:
            return False
        if hooks:
            execution = Execution.objects.get(pk=execution_id)
            for hook in _recovery_hooks:
                hook(finished, execution)
    return True


def execution_recover(*, execution_id: str) -> bool:
    """End a stale execution as failed "interrupted" and run the hooks; False if not stale.

    When the hooks cannot be stored (say its session is gone: SQLite only says so at
    commit), the execution is still ended, without them, so recovery never retries it
    forever; that second attempt failing too (the database is down) raises.
    """
    try:
        return _recover(execution_id, hooks=True)
    except Exception:
        logger.exception("recovery of execution %s failed; ending it without its hooks",
                         execution_id)
    return _recover(execution_id, hooks=False)


def executions_recover_stale(*, alive: Collection[str] = ()) -> int:
    """Recover every stale execution, each on its own: one that fails is logged and skipped.

    `alive` are the executions running in the calling process: their leases are renewed
    first, so a process whose renewals fell behind (CPU-bound, its database threads queued)
    never ends its own live runs as "interrupted"."""
    if alive:
        executions_heartbeat(execution_ids=list(alive))
    recovered = 0
    for execution_id in stale_execution_ids():
        if execution_id in alive:
            continue
        try:
            recovered += execution_recover(execution_id=execution_id)
        except Exception:
            logger.exception("could not recover execution %s", execution_id)
    return recovered
