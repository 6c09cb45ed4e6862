"""Rolling summaries of long sessions (agent versions with ``context.strategy: summary``).

A turn sends the system prompt, the session's current summary, then the newest messages
after it that fit the budget (:func:`history_with_summary`). When they no longer all fit,
the turn still runs at once with what fits, and describes a :class:`Fold`: after the turn
(a follow-up task of the runner, so never before the reply's first token) the messages
between the summary and the newest half of the window are folded into the previous
summary by one summarizer call (input: that summary plus only those messages), stored as a
new :class:`~chat.models.Summary`, and the session moves to it with a conditional UPDATE
on its current summary — one summarizer per session at a time; a fold that lost the race
is dropped. The call is a ``summary`` span of the execution and counts in the session's
totals; ``context_compacted`` goes to the session's sockets. A summarizer that fails
records the error on that span and changes nothing: later turns keep the window.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from agents.preparation import PreparedAgent
from agents.runtime.context_window import estimate_tokens, history_budget, message_tokens
from agents.runtime.summarize import (
    SUMMARIZER_SYSTEM,
    SummaryResult,
    summarize,
    summary_max_tokens,
)
from agents.runtime.types import Message as RuntimeMessage
from agents.runtime.types import ModelSpec
from chat.models import Message, Session, Summary
from chat.selectors import history_units_newest_first
from executions import bus
from executions.models import Span, SpanKind, SpanStatus
from executions.types import RunResult
from promptrails.db import run_db

logger = logging.getLogger("promptrails.chat.summaries")

SUMMARY_HEADER = "Summary of the earlier conversation (older messages are not shown):"
KEEP_RATIO = 0.5  # a fold keeps the newest half of the budget as messages


@dataclass(frozen=True)
class Fold:
    """What the follow-up of a turn folds: messages after ``previous_covers`` and before
    ``keep_from`` into the summary ``previous_id``."""

    session_id: str
    workspace_id: str
    execution_id: str
    previous_id: str | None
    previous_content: str
    previous_covers: str | None
    keep_from: str
    model: ModelSpec


def summary_block(summary: Summary | None) -> str:
    return f"{SUMMARY_HEADER}\n{summary.content}" if summary is not None else ""


def history_with_summary(
    *, session: Session, prepared: PreparedAgent, system: str, user_text: str,
    execution_id: str,
) -> tuple[str, tuple[RuntimeMessage, ...], Fold | None]:
    """(system with the summary, the newest messages after it that fit, a fold or None).

    Reads O(window) rows, like the window strategy."""
    summary = session.summary
    if summary is not None:
        system = f"{system}\n\n{summary_block(summary)}" if system else summary_block(summary)
    budget = history_budget(prepared.model, prepared.max_tokens, system, user_text)
    kept: list[tuple[str, list[RuntimeMessage], int]] = []
    used = 0
    overflow = False
    for message_id, messages in history_units_newest_first(
            session_id=session.id,
            after=summary.covers_until_message_id if summary is not None else None):
        cost = sum(message_tokens(m) for m in messages)
        if used + cost > budget:
            overflow = True
            break
        kept.append((message_id, messages, cost))
        used += cost
    history = tuple(m for _, messages, _ in reversed(kept) for m in reversed(messages))
    if not overflow or not kept:
        return system, history, None
    keep_from = kept[0][0]
    half = 0
    for message_id, _, cost in kept:
        if half + cost > budget * KEEP_RATIO:
            break
        half += cost
        keep_from = message_id
    fold = Fold(
        session_id=session.id, workspace_id=session.workspace_id, execution_id=execution_id,
        previous_id=summary.id if summary is not None else None,
        previous_content=summary.content if summary is not None else "",
        previous_covers=summary.covers_until_message_id if summary is not None else None,
        keep_from=keep_from, model=prepared.summarizer or prepared.model,
    )
    return system, history, fold


def _input_budget(model: ModelSpec, previous: str) -> int:
    """Tokens of new messages one summarizer call may read."""
    return max(256, model.context_window - 2 * summary_max_tokens(model)
               - estimate_tokens(SUMMARIZER_SYSTEM) - estimate_tokens(previous) - 256)


def fold_input(fold: Fold) -> tuple[list[RuntimeMessage], str | None, int, int]:
    """(messages to fold oldest first, the newest folded id, how many, how many skipped).

    Newest first from ``keep_from`` back to the previous summary, up to what the
    summarizer can read: a session switched to summaries late skips its oldest messages,
    as the window did."""
    taken: list[RuntimeMessage] = []
    newest: str | None = None
    folded = 0
    used = 0
    limit = _input_budget(fold.model, fold.previous_content)
    oldest: str | None = None
    complete = True
    for message_id, messages in history_units_newest_first(
            session_id=fold.session_id, after=fold.previous_covers, before=fold.keep_from):
        cost = sum(message_tokens(m) for m in messages)
        if used + cost > limit and folded:
            complete = False
            break
        newest = newest or message_id
        oldest = message_id
        taken.extend(messages)
        used += cost
        folded += 1
    skipped = 0
    if not complete and oldest is not None:
        older = Message.objects.filter(session_id=fold.session_id, id__lt=oldest,
                                       role__in=["user", "assistant"])
        if fold.previous_covers is not None:
            older = older.filter(id__gt=fold.previous_covers)
        skipped = older.count()
    taken.reverse()
    return taken, newest, folded, skipped


def _root_span(execution_id: str) -> Span | None:
    return Span.objects.filter(execution_id=execution_id, parent_span_id="").first()


def _span(fold: Fold, *, result: SummaryResult | None, started_at: float, duration_ms: int,
          error: str | None, attributes: dict[str, Any]) -> None:
    """The summarizer call as a ``summary`` span under the turn's root span (best effort)."""
    from executions.traces import _at, new_span_id

    try:
        root = _root_span(fold.execution_id)
        if root is None:
            return
        started = _at(started_at)
        usage = result.usage if result is not None else None
        Span.objects.create(
            workspace_id=fold.workspace_id, execution_id=fold.execution_id,
            trace_id=root.trace_id, span_id=new_span_id(), parent_span_id=root.span_id,
            session_id=fold.session_id, kind=SpanKind.SUMMARY,
            name=f"summarize {fold.model.model_id}",
            status=SpanStatus.ERROR if error else SpanStatus.OK,
            started_at=started, ended_at=started + timedelta(milliseconds=duration_ms),
            duration_ms=duration_ms, provider=fold.model.provider, model=fold.model.model_id,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            total_tokens=usage.total_tokens if usage else 0,
            cost=result.cost if result is not None else 0.0,
            attributes=attributes, error=error,
        )
    except Exception:
        logger.exception("could not record the summary span of execution %s",
                         fold.execution_id)


def summary_store(*, fold: Fold, result: SummaryResult, covers_until: str, folded: int,
                  skipped: int) -> Summary | None:
    """One transaction: the new summary, the session moved to it only if its summary is
    still the one folded (else None, nothing kept), its totals, the span."""
    with transaction.atomic():
        summary = Summary.objects.create(
            session_id=fold.session_id, content=result.content,
            covers_until_message_id=covers_until, previous_id=fold.previous_id,
            messages_folded=folded, messages_skipped=skipped, model=result.model_id,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens, cost=result.cost,
            execution_id=fold.execution_id,
        )
        moved = Session.objects.filter(pk=fold.session_id, summary_id=fold.previous_id).update(
            summary_id=summary.id, total_tokens=F("total_tokens") + result.usage.total_tokens,
            total_cost=F("total_cost") + result.cost,
        )
        if not moved:  # another summarizer (or a deleted session) came first
            transaction.set_rollback(True)
            return None
        Summary.objects.filter(session_id=fold.session_id).exclude(
            pk__in=[summary.id, fold.previous_id or summary.id]).delete()
        _span(fold, result=result, started_at=result.started_at,
              duration_ms=result.duration_ms, error=None,
              attributes={"summary_id": summary.id, "covers_until_message_id": covers_until,
                          "messages_folded": folded, "messages_skipped": skipped})
    return summary


_active: dict[str, asyncio.Task[Any]] = {}


async def wait_idle(limit: float = 30.0) -> None:
    """Until no summarizer of this process runs (tests, benchmarks)."""
    async with asyncio.timeout(limit):
        while _active:
            await asyncio.gather(*list(_active.values()), return_exceptions=True)


async def fold_after_turn(finished: RunResult, *, fold: Fold) -> Summary | None:
    """The follow-up of a turn that outgrew the window (see the module docstring)."""
    task = asyncio.current_task()
    if fold.session_id in _active or task is None:
        return None  # one summarizer per session: the next turn folds what is left
    _active[fold.session_id] = task
    try:
        return await _fold(fold)
    finally:
        _active.pop(fold.session_id, None)


async def _fold(fold: Fold) -> Summary | None:
    import time

    messages, covers_until, folded, skipped = await run_db(fold_input, fold)
    if not messages or covers_until is None:
        return None
    started, clock = time.time(), time.monotonic()
    try:
        result = await summarize(model=fold.model, previous=fold.previous_content,
                                 messages=messages,
                                 request_timeout=settings.PROVIDER_TIMEOUT_SECONDS)
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        logger.warning("summarizer of session %s failed: %s", fold.session_id, error)
        await run_db(_span, fold, result=None, started_at=started,
                     duration_ms=int((time.monotonic() - clock) * 1000),
                     error=f"summarizer failed: {error}",
                     attributes={"messages_folded": 0, "fallback": "window"})
        return None
    summary = await run_db(summary_store, fold=fold, result=result, covers_until=covers_until,
                           folded=folded, skipped=skipped)
    if summary is not None:
        try:
            await bus.publish(bus.session_group(fold.session_id), {
                "type": "context_compacted", "session_id": fold.session_id,
                "execution_id": fold.execution_id, "summary_id": summary.id,
                "covers_until_message_id": summary.covers_until_message_id,
            })
        except Exception:
            logger.warning("could not publish context_compacted of session %s",
                           fold.session_id, exc_info=True)
    return summary
