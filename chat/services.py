"""Chat writes: sessions, turns (start and finish), feedback. Every publish starts here."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, CharField, DateTimeField, F, Q, Value, When
from django.utils import timezone

from agents.memories import memories_relevant, memory_prompt, memory_store, subject_of
from agents.models import Agent
from agents.preparation import PreparedAgent, prepare_agent, render_prompts
from agents.runtime.context_window import fit_history, history_budget
from agents.runtime.tools.memory import memory_tools
from agents.runtime.types import Message as RuntimeMessage
from chat.models import Feedback, IdempotencyKey, Message, Session
from chat.selectors import history_newest_first, session_get
from chat.summaries import Fold, fold_after_turn, history_with_summary
from executions import bus
from executions.models import ACTIVE_STATUSES, FINISHED_STATUSES, Execution, ExecutionStatus
from executions.services import execution_create, execution_recover
from executions.types import RunResult, TurnSpec
from promptrails.errors import IdempotencyConflict, InvalidInput, NotFound, SessionBusy
from promptrails.ids import new_id
from promptrails.models import Workspace
from promptrails.ratelimit import enforce_concurrent_turns
from promptrails.tenancy import scoped_get

logger = logging.getLogger("promptrails.chat")


def _publish_after_commit(session_id: str, payload: dict[str, Any]) -> None:
    """After commit, to every socket on the session; the write stands even if a push fails."""

    def send() -> None:
        try:
            bus.publish_from_thread(bus.session_group(session_id), payload)
        except Exception:
            logger.warning("could not publish %s to session %s", payload["type"], session_id,
                           exc_info=True)

    transaction.on_commit(send)


def _publish_message(message: Message) -> None:
    """Every socket watching the session gets the stored message."""
    from chat.api.messages import message_data

    _publish_after_commit(message.session_id, {"type": "message",
                                               "message": message_data(message)})


def _announce_turn(session_id: str, execution_id: str) -> None:
    """Sockets on the session start following the new turn's events."""
    _publish_after_commit(session_id, {"type": "turn", "execution_id": execution_id})


def session_create(
    *, workspace: Workspace, agent_id: Any, title: str, metadata: dict[str, Any],
    user_id: str | None,
) -> Session:
    if not isinstance(agent_id, str) or not agent_id:
        raise InvalidInput({"agent_id": ["This field is required."]})
    agent = scoped_get(Agent.objects.all(), workspace, agent_id, "agent")
    return Session.objects.create(
        workspace=workspace, agent=agent, title=title, metadata=metadata, user_id=user_id
    )


def session_update(*, session: Session, changes: dict[str, Any]) -> Session:
    fields = [name for name in ("title", "metadata") if name in changes]
    for name in fields:
        setattr(session, name, changes[name])
    if fields:
        session.save(update_fields=fields)
    return session


def session_delete(*, session: Session) -> None:
    session.delete()


@dataclass(frozen=True)
class Turn:
    execution_id: str
    session_id: str
    user_message: Message
    spec: TurnSpec | None  # None: an idempotent retry of a turn that was already started


IDEMPOTENCY_WINDOW = timedelta(hours=24)


def _request_hash(session_id: str, content: str) -> str:
    return hashlib.sha256(json.dumps([session_id, content]).encode()).hexdigest()


def clean_idempotency_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 255 or not value.isprintable():
        raise InvalidInput(
            {"idempotency_key": ["Must be a printable string of at most 255 characters."]}
        )
    return value


def _idempotent_turn(workspace: Workspace, key: str, session_id: str, content: str) -> Turn | None:
    """The turn an earlier send with this key started (within 24 h), if any."""
    record = IdempotencyKey.objects.filter(
        workspace=workspace, key=key, created_at__gte=timezone.now() - IDEMPOTENCY_WINDOW
    ).first()
    if record is None:
        return None
    if record.request_hash != _request_hash(session_id, content):
        raise IdempotencyConflict()
    user_message = Message.objects.filter(pk=record.user_message_id).first()
    if user_message is None:  # the session was deleted since
        raise NotFound("chat session")
    return Turn(execution_id=record.execution_id, session_id=record.session_id,
                user_message=user_message, spec=None)


def _lease_until() -> Any:
    return timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS)


class _StaleTurn(Exception):  # noqa: N818 - a signal between two functions, not an error
    """The session is held by a turn whose lease ran out (its process died)."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(execution_id)
        self.execution_id = execution_id


def _counted(message: Message) -> dict[str, Any]:
    """The session columns that move with one more stored message: last activity (never older
    than the last message) and the running totals."""
    return {"updated_at": message.created_at, "message_count": F("message_count") + 1,
            "total_tokens": F("total_tokens") + message.token_count,
            "total_cost": F("total_cost") + message.cost}


def _claim(session_id: str, execution_id: str, message: Message) -> None:
    """Take the session's turn lock for `execution_id`, counting its user message in the
    same UPDATE. SessionBusy while another turn holds it; _StaleTurn when that turn's lease
    ran out."""
    fields = {"turn_execution_id": execution_id, "turn_lease_until": _lease_until(),
              **_counted(message)}
    free = Session.objects.filter(pk=session_id, turn_execution_id__isnull=True)
    if free.update(**fields):
        return
    holder = Session.objects.filter(pk=session_id).values_list(
        "turn_execution_id", "turn_lease_until"
    ).first()
    if holder is not None and holder[0] is None and free.update(**fields):
        return  # released in between
    if holder is not None and holder[0] and Execution.objects.filter(
            pk=holder[0], status=ExecutionStatus.WAITING_APPROVAL).exists():
        raise SessionBusy(retry_after=1, details={
            "execution_id": holder[0], "status": ExecutionStatus.WAITING_APPROVAL,
            "reason": "The turn is waiting for approval of a tool call."})
    if holder is not None and holder[0] and holder[1] is not None \
            and holder[1] < timezone.now():
        raise _StaleTurn(holder[0])
    raise SessionBusy(retry_after=1)


def _turn_write(
    *, workspace: Workspace, session: Session, agent: Agent, prepared: PreparedAgent, content: str,
    user_id: int | None, execution_id: str, idempotency_key: str | None,
    client_context: dict[str, Any] | None = None,
) -> tuple[Execution, Message]:
    """One transaction: the execution, the user message, then the session's turn lock
    (rolled back with SessionBusy or _StaleTurn when the session is held)."""
    with transaction.atomic():
        enforce_concurrent_turns(
            limit=workspace.max_concurrent_turns,
            running=Execution.objects.filter(
                workspace=workspace, status__in=ACTIVE_STATUSES
            ).count,
        )
        execution = execution_create(
            workspace=workspace, agent_id=agent.id, agent_name=agent.name,
            agent_version_id=prepared.version_id,
            input={"message": content} if client_context is None
            else {"message": content, "context": client_context},
            session_id=session.id, user_id=user_id, execution_id=execution_id,
            model=prepared.model.model_id,
        )
        user_message = Message.objects.create(
            session_id=session.id, role=Message.Role.USER, content=content,
            execution_id=execution_id,
            # what the page said about itself: kept apart from the message, untrusted
            metadata={} if client_context is None else {"client_context": client_context},
        )
        _claim(session.id, execution_id, user_message)
        if idempotency_key is not None:
            IdempotencyKey.objects.filter(
                workspace=workspace, key=idempotency_key,
                created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW,
            ).delete()
            IdempotencyKey.objects.create(
                workspace=workspace, key=idempotency_key,
                request_hash=_request_hash(session.id, content), session_id=session.id,
                execution_id=execution_id, user_message_id=user_message.id,
            )
        _publish_message(user_message)
        _announce_turn(session.id, execution_id)
    return execution, user_message


def turn_start(
    *, workspace: Workspace, session_id: str, content: str, user_id: int | None = None,
    idempotency_key: str | None = None, client_context: dict[str, Any] | None = None,
) -> Turn:
    """Validate, store the user message, take the turn lock, and describe the run.

    ``client_context`` (the browser chat's page context: untrusted) reaches the prompt
    templates as ``context`` ({} when absent), never mixed into the message.

    With an idempotency key, a retry of the same request returns the turn it started
    (with no spec: nothing new is written or run); the same key with another body is a 409.
    """
    session = session_get(workspace=workspace, session_id=session_id, for_turn=True)
    if idempotency_key is not None:
        earlier = _idempotent_turn(workspace, idempotency_key, session.id, content)
        if earlier is not None:
            return earlier
    agent = session.agent
    if agent is None or agent.workspace_id != workspace.pk:
        raise InvalidInput({"agent_id": ["This session's agent no longer exists."]})
    prepared = prepare_agent(workspace=workspace, agent=agent,
                             revision=session.workspace.config_revision)
    execution_id = new_id()
    prompt = _turn_prompt(session, prepared, content, client_context, execution_id)
    written: tuple[Execution, Message] | None = None
    for _ in range(2):
        try:
            written = _turn_write(
                workspace=workspace, session=session, agent=agent, prepared=prepared,
                content=content, user_id=user_id, execution_id=execution_id,
                idempotency_key=idempotency_key, client_context=client_context,
            )
            break
        except _StaleTurn as stale:
            # end the dead turn first (its partial reply is stored before this message),
            # then try once more
            if not execution_recover(execution_id=stale.execution_id):
                turn_release_ended(session_id=session.id, execution_id=stale.execution_id)
        except (SessionBusy, IntegrityError):
            # the same request, started a moment ago (busy) or won a race on the key
            earlier = (_idempotent_turn(workspace, idempotency_key, session.id, content)
                       if idempotency_key is not None else None)
            if earlier is None:
                raise
            return earlier
    if written is None:
        raise SessionBusy(retry_after=1)
    execution, user_message = written
    return Turn(execution_id=execution_id, session_id=session.id, user_message=user_message,
                spec=_turn_spec(prepared, prompt, execution, user_message))


@dataclass(frozen=True)
class _Prompt:
    """What the model gets for a turn: prompts, the history that fits, tools, and the
    summary fold to run after it (when the history no longer all fits)."""

    system: str
    user_text: str
    history: tuple[RuntimeMessage, ...]
    tools: tuple[Any, ...]
    fold: Fold | None


def _turn_prompt(session: Session, prepared: PreparedAgent, content: str,
                 client_context: dict[str, Any] | None, execution_id: str) -> _Prompt:
    """The prompts rendered in the sandbox, the subject's memories when enabled, and the
    history that fits the model's context budget (O(window), not O(session))."""
    system, user_text = render_prompts(
        prepared,
        variables={"message": content, "input": content, "metadata": session.metadata,
                   "session": {"id": session.id, "title": session.title},
                   "context": client_context if client_context is not None else {}},
    )
    tools = prepared.tools
    if prepared.memory_enabled:
        system, tools = _with_memory(session, prepared, system, content)
    fold: Fold | None = None
    if prepared.context_strategy == "summary":
        system, history, fold = history_with_summary(
            session=session, prepared=prepared, system=system, user_text=user_text,
            execution_id=execution_id)
    else:
        budget = history_budget(prepared.model, prepared.max_tokens, system, user_text)
        history = tuple(fit_history(history_newest_first(session_id=session.id), budget))
    return _Prompt(system=system, user_text=user_text, history=history, tools=tools, fold=fold)


def _turn_spec(prepared: PreparedAgent, prompt: _Prompt, execution: Execution,
               user_message: Message) -> TurnSpec:
    """The run of a turn whose rows are written, with the session's hooks."""
    execution_id, session_id = execution.pk, user_message.session_id
    return TurnSpec(
        execution_id=execution_id,
        run=prepared.agent_run(system=prompt.system, user_message=prompt.user_text,
                               history=prompt.history, tools=prompt.tools),
        approval_timeout_seconds=prepared.approval_timeout_seconds,
        approval_on_timeout=prepared.approval_on_timeout,
        first_event={"type": "execution", "execution_id": execution_id,
                     "user_message_id": user_message.id},
        on_finish=partial(turn_finish, session_id=session_id),
        on_heartbeat=turn_leases_renew,
        after_finish=(partial(fold_after_turn, fold=prompt.fold)
                      if prompt.fold is not None else None),
        execution=execution,
    )


def _with_memory(session: Session, prepared: PreparedAgent, system: str,
                 content: str) -> tuple[str, tuple[Any, ...]]:
    """The system prompt with the subject's most relevant memories, and the tools with
    remember/recall bound to this workspace, agent and subject."""
    subject = subject_of(user_id=session.user_id, metadata=session.metadata)
    memories = memories_relevant(workspace_id=session.workspace_id,
                                 agent_id=prepared.agent_id, subject=subject, query=content,
                                 limit=prepared.memory_max_injected)
    if memories:
        block = memory_prompt(memories)
        system = f"{system}\n\n{block}" if system else block
    store = memory_store(workspace_id=session.workspace_id, agent_id=prepared.agent_id,
                         subject=subject, session_id=session.id)
    return system, (*prepared.tools, *memory_tools(store))


def turn_resume_hooks(execution: Execution) -> tuple[Any, Any]:
    """Resume hook (executions.approvals): a parked turn of a session, continued after the
    decision, ends like any turn (reply stored, lock released) and renews the lock's lease.
    Only a session of the execution's workspace whose lock this execution holds."""
    session_id = execution.session_id
    if not session_id or not Session.objects.filter(
        pk=session_id, workspace_id=execution.workspace_id, turn_execution_id=execution.pk,
    ).exists():
        return None, None
    return (partial(turn_finish, session_id=session_id),
            turn_leases_renew)


def turn_leases_renew(execution_ids: Sequence[str]) -> None:
    """Renew the turn lock of every session that one of these executions holds."""
    Session.objects.filter(turn_execution_id__in=execution_ids).update(
        turn_lease_until=_lease_until())


def turn_release_ended(*, session_id: str, execution_id: str) -> None:
    """Free the session's turn lock if that execution holds it but has ended (its end was
    stored without its hooks, e.g. by recovery that could not write the reply)."""
    if Execution.objects.filter(pk=execution_id, status__in=FINISHED_STATUSES).exists():
        Session.objects.filter(pk=session_id, turn_execution_id=execution_id).update(
            turn_execution_id=None, turn_lease_until=None)


def turn_finish(finished: RunResult, *, session_id: str) -> Message | None:
    """Store the reply (partial ones marked incomplete) and release the session."""
    if not (finished.status == "completed" or finished.content):
        Session.objects.filter(pk=session_id).update(updated_at=timezone.now(),
                                                     **_released(finished.execution_id))
        return None
    metadata: dict[str, Any] = {}
    if finished.incomplete or finished.status != "completed":
        metadata = {"incomplete": True, "status": finished.status, "error": finished.error}
    message = message_store(
        session_id=session_id,
        releasing=finished.execution_id,
        role=Message.Role.ASSISTANT,
        content=finished.content,
        metadata=metadata,
        tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments}
                    for c in finished.tool_calls] or None,
        tool_results=[{"id": r.id, "name": r.name, "result": r.result, "error": r.error}
                      for r in finished.tool_runs] or None,
        model=finished.model_id,
        token_count=finished.usage.total_tokens,
        prompt_tokens=finished.usage.prompt_tokens,
        completion_tokens=finished.usage.completion_tokens,
        cost=finished.cost,
        execution_id=finished.execution_id,
    )
    _publish_message(message)
    return message


def _released(execution_id: str) -> dict[str, Any]:
    """The session columns that free its turn lock if `execution_id` still holds it."""
    held = Q(turn_execution_id=execution_id)
    return {
        "turn_execution_id": Case(When(held, then=Value(None)), default=F("turn_execution_id"),
                                  output_field=CharField()),
        "turn_lease_until": Case(When(held, then=Value(None)), default=F("turn_lease_until"),
                                 output_field=DateTimeField()),
    }


def message_store(*, session_id: str, releasing: str | None = None, **fields: Any) -> Message:
    """Store one message of a session and move the session's last activity and running
    totals (count, tokens, cost) with it — and, with `releasing`, free the session's turn
    lock if that execution still holds it — in one UPDATE; call inside the turn's
    transaction."""
    message = Message.objects.create(session_id=session_id, **fields)
    release = _released(releasing) if releasing is not None else {}
    Session.objects.filter(pk=session_id).update(**_counted(message), **release)
    return message


def turn_interrupted(finished: RunResult, execution: Execution) -> None:
    """Recovery hook: a turn whose process died keeps its partial reply; the session is freed.

    Only a turn's own session, as the turn left it: a session of the execution's workspace
    whose turn lock this execution holds. Any other run that names a session (an agent
    execute, one whose session was deleted or belongs elsewhere) writes nothing there."""
    session_id = execution.session_id
    if not session_id or not Session.objects.filter(
        pk=session_id, workspace_id=execution.workspace_id,
        turn_execution_id=finished.execution_id,
    ).exists():
        return
    if finished.content:
        message = message_store(
            session_id=session_id, releasing=finished.execution_id,
            role=Message.Role.ASSISTANT, content=finished.content,
            execution_id=finished.execution_id,
            metadata={"incomplete": True, "status": "failed", "error": finished.error},
        )
        _publish_message(message)
    else:
        Session.objects.filter(pk=session_id).update(**_released(finished.execution_id))


def feedback_submit(*, session: Session, execution_id: Any, value: Any) -> Feedback:
    if value not in (1, -1) or isinstance(value, bool):
        raise InvalidInput({"value": ["Must be 1 or -1."]})
    if not isinstance(execution_id, str) or not execution_id:
        raise InvalidInput({"execution_id": ["This field is required."]})
    execution = Execution.objects.filter(
        pk=execution_id, workspace_id=session.workspace_id, session_id=session.id
    ).first()
    if execution is None:
        raise NotFound(message="Execution not found in this session.")
    feedback, _ = Feedback.objects.update_or_create(
        session=session, execution=execution, defaults={"value": value}
    )
    return feedback
