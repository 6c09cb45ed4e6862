"""Human approval of tool calls: parked runs that any process can resume.

A run that calls a tool attached with ``requires_approval`` parks (docs/turn.md): the loop
returns where it stopped (:class:`agents.runtime.types.Parked`), and :func:`park` stores
it in one transaction — the execution ``waiting_approval`` (it holds no lease, so recovery
leaves it alone, while the session keeps its turn lock), an :class:`Approval` whose
``state`` is everything the loop needs to continue, and the run's last events ending with
``approval_required``. The run's task then ends: a parked run is data, not a task.

A decision (:func:`approval_decide`, or :func:`approvals_expire_due` for calls nobody
decided in time) is a conditional UPDATE of the approval (pending → decided), so exactly
one process wins; that process builds a :class:`executions.runner.TurnSpec` from the stored
state (:func:`resume_spec`) and starts a runner whose events continue the sequence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from agents.models import Agent
from agents.preparation import prepare_agent
from agents.runtime.types import (
    LlmCall,
    Message,
    Parked,
    Resume,
    RunResult,
    ToolCall,
    ToolRun,
    Usage,
)
from executions import bus, log, services, traces
from executions.models import (
    Approval,
    ApprovalStatus,
    Execution,
    ExecutionStatus,
    Span,
    SpanKind,
)
from executions.types import FinishHook, HeartbeatHook, TurnSpec
from promptrails.api.formats import iso
from promptrails.errors import InvalidInput, NotAllowed
from promptrails.ids import new_id
from promptrails.models import Workspace
from promptrails.tenancy import scoped_get

logger = logging.getLogger("promptrails.approvals")

EXPIRED_REASON = "the approval expired"
CANCELLED = "cancelled"

# The starter of runs (chat) says how a resumed run of one of its executions ends (the
# reply stored, the session freed) and renews its lease: (on_finish, on_heartbeat).
ResumeHook = Callable[[Execution], tuple[FinishHook | None, HeartbeatHook | None]]
_resume_hooks: list[ResumeHook] = []


def register_resume_hook(hook: ResumeHook) -> None:
    if hook not in _resume_hooks:
        _resume_hooks.append(hook)


def _hooks(execution: Execution) -> tuple[FinishHook | None, HeartbeatHook | None]:
    for hook in _resume_hooks:
        on_finish, on_heartbeat = hook(execution)
        if on_finish is not None or on_heartbeat is not None:
            return on_finish, on_heartbeat
    return None, None


# -- the stored state ----------------------------------------------------------------


def _message(raw: dict[str, Any]) -> Message:
    return Message(role=raw["role"], content=raw["content"],
                   tool_calls=tuple(ToolCall(**c) for c in raw.get("tool_calls") or ()),
                   tool_call_id=raw.get("tool_call_id"), name=raw.get("name"))


def _llm_call(raw: dict[str, Any]) -> LlmCall:
    return LlmCall(**{**raw, "usage": Usage(**raw["usage"])})


def _state(spec: TurnSpec, result: RunResult, parked: Parked) -> dict[str, Any]:
    return {
        "system": spec.run.system,
        "messages": [asdict(m) for m in parked.messages],
        "pending": [asdict(c) for c in parked.pending],
        "tool_calls_used": parked.tool_calls_used,
        "content": result.content,
        "usage": asdict(result.usage),
        "cost": result.cost,
        "model_id": result.model_id,
        "tool_calls": [asdict(c) for c in result.tool_calls],
        "tool_runs": [asdict(r) for r in result.tool_runs],
        "llm_calls": [asdict(c) for c in result.llm_calls],
        "parked_at": time.time(),
    }


def _resume(state: dict[str, Any], *, approved: bool, reason: str) -> Resume:
    return Resume(
        parked=Parked(messages=tuple(_message(m) for m in state["messages"]),
                      pending=tuple(ToolCall(**c) for c in state["pending"]),
                      tool_calls_used=state["tool_calls_used"]),
        approved=approved, reason=reason, content=state["content"],
        usage=Usage(**state["usage"]), cost=state["cost"], model_id=state["model_id"],
        tool_calls=tuple(ToolCall(**c) for c in state["tool_calls"]),
        tool_runs=tuple(ToolRun(**r) for r in state["tool_runs"]),
        llm_calls=tuple(_llm_call(c) for c in state["llm_calls"]),
    )


# -- parking ---------------------------------------------------------------------------


def approval_event(approval: Approval, seq: int) -> log.Event:
    return {"seq": seq, "type": "approval_required", "execution_id": approval.execution_id,
            "approval_id": approval.id,
            "tool": {"id": approval.tool_call_id, "name": approval.tool_name,
                     "arguments": approval.arguments},
            "expires_at": iso(approval.expires_at)}


def park(*, spec: TurnSpec, result: RunResult, events: list[log.Event],
         seq: int) -> log.Event | None:
    """Store a parked run (one transaction) and return its `approval_required` event; None
    (nothing written) when the execution is no longer running, e.g. a cancel came first."""
    parked = result.parked
    assert parked is not None
    call = parked.pending[0]
    now = timezone.now()
    expires_at = now + timedelta(seconds=spec.approval_timeout_seconds)
    with transaction.atomic():
        claimed = Execution.objects.filter(
            pk=spec.execution_id, status=ExecutionStatus.RUNNING
        ).update(status=ExecutionStatus.WAITING_APPROVAL, approval_expires_at=expires_at,
                 model=result.model_id, updated_at=now)
        if not claimed:
            return None
        execution = spec.execution or Execution.objects.get(pk=spec.execution_id)
        approval = Approval.objects.create(
            id=new_id(), workspace_id=execution.workspace_id, execution_id=spec.execution_id,
            agent_id=execution.agent_id, session_id=execution.session_id,
            tool_call_id=call.id, tool_name=call.name, arguments=call.arguments,
            on_timeout=spec.approval_on_timeout, expires_at=expires_at,
            state=_state(spec, result, parked),
        )
        event = approval_event(approval, seq)
        log.append(spec.execution_id, [*events, event])
    return event


# -- deciding --------------------------------------------------------------------------


def _decide(approval: Approval, *, status: str, reason: str | None, decided_by: str) -> bool:
    """pending → `status` and the execution back to running, in one transaction; False if
    another decision (or a cancel, or the expiry) won."""
    now = timezone.now()
    with transaction.atomic():
        if not Approval.objects.filter(pk=approval.pk, status=ApprovalStatus.PENDING).update(
                status=status, reason=reason, decided_by=decided_by, decided_at=now):
            return False
        if not Execution.objects.filter(
            pk=approval.execution_id, status=ExecutionStatus.WAITING_APPROVAL
        ).update(status=ExecutionStatus.RUNNING, heartbeat_at=now, approval_expires_at=None,
                 updated_at=now):
            transaction.set_rollback(True)  # the run ended meanwhile: nothing to resume
            return False
        _wait_span(approval, status=status, reason=reason, decided_by=decided_by, now=now)
    approval.status, approval.reason, approval.decided_by, approval.decided_at = (
        status, reason, decided_by, now)
    return True


def _wait_span(approval: Approval, *, status: str, reason: str | None, decided_by: str,
               now: Any) -> None:
    """The trace's span for the wait, with who decided (a failure never blocks the run)."""
    try:
        with transaction.atomic():
            execution = Execution.objects.filter(pk=approval.execution_id).values(
                "trace_id", "session_id").first()
            if execution is None:
                return
            Span.objects.create(
                workspace_id=approval.workspace_id, execution_id=approval.execution_id,
                trace_id=execution["trace_id"], span_id=traces.new_span_id(),
                session_id=execution["session_id"], kind=SpanKind.APPROVAL,
                name=f"approval {approval.tool_name}"[:200], started_at=approval.created_at,
                ended_at=now,
                duration_ms=max(0, int((now - approval.created_at).total_seconds() * 1000)),
                attributes={"approval_id": approval.id, "tool": approval.tool_name,
                            "decision": status, "decided_by": decided_by,
                            "reason": reason or ""},
            )
    except Exception:
        logger.exception("could not record the approval span of %s", approval.execution_id)


def approval_decide(*, approval: Approval, approved: bool, reason: str | None,
                    decided_by: str) -> TurnSpec | None:
    """Decide a pending approval (400 "already decided" when it is not pending) and return
    the spec of the resumed run for the caller to start (None: it could not be resumed and
    was ended failed)."""
    status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
    if not _decide(approval, status=status, reason=reason, decided_by=decided_by):
        raise NotAllowed("Approval already decided.")
    return resume_spec(approval)


def approvals_expire_due(limit: int = 100) -> list[TurnSpec]:
    """Apply the timeout default to every pending approval past its expiry; each at most
    once whatever the number of sweepers (the conditional UPDATE picks one)."""
    due = list(Approval.objects.filter(status=ApprovalStatus.PENDING,
                                       expires_at__lt=timezone.now())
               .order_by("expires_at", "id")[:limit])
    specs: list[TurnSpec] = []
    for approval in due:
        try:
            if not _decide(approval, status=ApprovalStatus.EXPIRED, reason=EXPIRED_REASON,
                           decided_by="system:expiry"):
                continue
            spec = resume_spec(approval)
        except Exception:
            logger.exception("could not expire approval %s", approval.id)
            continue
        if spec is not None:
            specs.append(spec)
    return specs


def resume_spec(approval: Approval) -> TurnSpec | None:
    """The run continued from the approval's stored state, with the decision applied."""
    execution = Execution.objects.select_related("workspace").get(pk=approval.execution_id)
    approved = approval.status == ApprovalStatus.APPROVED or (
        approval.status == ApprovalStatus.EXPIRED and approval.on_timeout == "approve")
    try:
        agent = Agent.objects.get(pk=execution.agent_id, workspace_id=execution.workspace_id)
        prepared = prepare_agent(workspace=execution.workspace, agent=agent,
                                 version_id=execution.agent_version_id)
        state = approval.state
        resume = _resume(state, approved=approved, reason=approval.reason or "")
    except Exception as exc:
        logger.exception("cannot resume execution %s", execution.pk)
        _end_parked(execution, approval.state, status="failed",
                    error=f"could not resume the run: {type(exc).__name__}")
        return None
    run = prepared.agent_run(system=state["system"], user_message="", resume=resume)
    on_finish, on_heartbeat = _hooks(execution)
    return TurnSpec(execution_id=execution.pk, run=run, on_finish=on_finish,
                    on_heartbeat=on_heartbeat, execution=execution,
                    approval_timeout_seconds=prepared.approval_timeout_seconds,
                    approval_on_timeout=prepared.approval_on_timeout,
                    replay=log.read(execution.pk))


# -- ending a parked run without resuming it ---------------------------------------------


def _end_parked(execution: Execution, state: dict[str, Any], *, status: str,
                error: str) -> None:
    """End a run that is not running anywhere (parked, or failed to resume): the finished
    execution, its spans, the starter's hook (partial reply, session freed) and the log's
    terminal event in one transaction, published after commit."""
    parked_at = state.get("parked_at") or time.time()
    started = execution.started_at.timestamp() if execution.started_at else parked_at
    finished = RunResult(
        execution_id=execution.pk, status=status, content=state.get("content", ""),
        error=error, incomplete=True, usage=Usage(**state.get("usage", {})),
        cost=state.get("cost", 0.0), model_id=state.get("model_id", "") or execution.model,
        duration_ms=max(0, int((parked_at - started) * 1000)),
        tool_calls=tuple(ToolCall(**c) for c in state.get("tool_calls", ())),
        tool_runs=tuple(ToolRun(**r) for r in state.get("tool_runs", ())),
        llm_calls=tuple(_llm_call(c) for c in state.get("llm_calls", ())),
    )
    on_finish, _ = _hooks(execution)
    with transaction.atomic():
        if not services.execution_finish(finished=finished, if_active=True):
            return
        traces.spans_record(finished, execution=execution)
        if on_finish is not None:
            on_finish(finished)
        events = log.read(execution.pk)
        terminal = {"seq": (events[-1]["seq"] if events else 0) + 1, "type": "error",
                    "message": error, "error": error}
        log.append(execution.pk, [terminal])
        transaction.on_commit(lambda: _publish(execution.pk, terminal))


def _publish(execution_id: str, event: log.Event) -> None:
    try:
        bus.publish_from_thread(bus.execution_group(execution_id), event)
    except Exception:
        logger.warning("could not publish the end of execution %s", execution_id,
                       exc_info=True)


def execution_cancel_parked(*, execution: Execution, decided_by: str) -> bool:
    """Cancel a parked run: its approval is rejected ("cancelled") and the run ends
    cancelled with its partial reply; False when it was not parked (or a decision won)."""
    approval = Approval.objects.filter(execution_id=execution.pk,
                                       status=ApprovalStatus.PENDING).first()
    if approval is None:
        return False
    now = timezone.now()
    with transaction.atomic():
        if not Approval.objects.filter(pk=approval.pk, status=ApprovalStatus.PENDING).update(
                status=ApprovalStatus.REJECTED, reason=CANCELLED, decided_by=decided_by,
                decided_at=now):
            return False
        _end_parked(execution, approval.state, status="cancelled", error=CANCELLED)
    return True


# -- reading -------------------------------------------------------------------------------


def approval_get(*, workspace: Workspace, approval_id: str) -> Approval:
    approval = scoped_get(Approval.objects.all(), workspace, approval_id, "approval")
    return approval


def approval_of_execution(*, execution: Execution) -> Approval:
    """The pending approval of a parked execution; 400 when it is not waiting for one."""
    approval = Approval.objects.filter(execution_id=execution.pk,
                                       status=ApprovalStatus.PENDING).first()
    if execution.status != ExecutionStatus.WAITING_APPROVAL or approval is None:
        decided = Approval.objects.filter(execution_id=execution.pk).exclude(
            status=ApprovalStatus.PENDING).exists()
        message = ("Approval already decided." if decided else
                   f"Execution is {execution.status}, not waiting for approval.")
        raise NotAllowed(message)
    return approval


def actor(auth: Any) -> str:
    """Who decided, for the record: the signed-in user, else the API key."""
    user = getattr(auth, "user", None)
    if user is not None:
        return f"user:{getattr(user, 'email', '') or user.get_username()}"[:200]
    key = getattr(auth, "api_key", None)
    return f"api_key:{key.name} ({key.prefix}…)"[:200] if key is not None else "unknown"


def clean_reason(body: dict[str, Any], field: str = "reason") -> str | None:
    reason = body.get(field)
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > 2000 or "\x00" in reason:
        raise InvalidInput({field: ["Must be a string of at most 2000 characters."]},
                           message=f"{field} must be a string of at most 2000 characters.")
    return reason


def start_resumed(spec: TurnSpec) -> None:
    """Start a resumed run from a sync view: as a task of the server's event loop (a sync
    view under ASGI runs in a thread; async_to_sync hands the call to that loop)."""
    async_to_sync(_start)(spec)


async def _start(spec: TurnSpec) -> None:
    from executions import runner

    runner.start(spec)
