"""Chat reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from agents.runtime.types import Message as RuntimeMessage
from agents.runtime.types import ToolCall
from chat.models import Feedback, Message, Session
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped

METADATA_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
ORDERINGS = {"updated_at", "-updated_at", "created_at", "-created_at", "title", "-title"}
HISTORY_BATCH = 50  # the first read; later reads double, up to HISTORY_MAX_BATCH
HISTORY_MAX_BATCH = 400


def session_get(*, workspace: Workspace, session_id: str, for_turn: bool = False) -> Session:
    """One session of the workspace; ``for_turn`` also reads its agent and its workspace
    (the current configuration revision) in the same query."""
    sessions = scoped(Session.objects.all(), workspace)
    if for_turn:
        sessions = sessions.select_related("agent", "workspace", "summary")
    try:  # get(), not first(): a key lookup needs no ORDER BY (less to compile, per turn)
        return sessions.get(pk=session_id)
    except Session.DoesNotExist:
        raise NotFound("chat session") from None


def session_exists(*, workspace: Workspace, session_id: str) -> bool:
    return scoped(Session.objects.all(), workspace).filter(pk=session_id).exists()


def _metadata_filter(qs: QuerySet[Session], key: str, value: str, n: int) -> QuerySet[Session]:
    if not METADATA_KEY.match(key):
        raise InvalidInput({f"metadata.{key}": ["Unsupported metadata key."]})
    candidates: list[Any] = [value]
    try:
        parsed = json.loads(value)
        if isinstance(parsed, int | float | bool) and parsed != value:
            candidates.append(parsed)
    except ValueError:
        pass
    if connection.vendor == "postgresql":
        condition = Q()
        for candidate in candidates:
            condition |= Q(metadata__contains={key: candidate})
        return qs.filter(condition)
    alias = f"_meta_{n}"
    text_values = {value} | {json.dumps(c) for c in candidates if not isinstance(c, str)}
    if True in candidates:
        text_values |= {"true", "1"}
    if False in candidates:
        text_values |= {"false", "0"}
    # Cast: a bare KeyTextTransform's `__in` wraps each value in JSON_EXTRACT on SQLite
    # (a plain string is then "malformed JSON"); compare as text instead.
    key_text = Cast(KeyTextTransform(key, "metadata"), output_field=TextField())
    return qs.annotate(**{alias: key_text}).filter(
        **{f"{alias}__in": sorted(text_values)}
    )


def session_list(*, workspace: Workspace, params: Any) -> QuerySet[Session]:
    qs = scoped(Session.objects.select_related("summary"), workspace)
    if params.get("agent_id"):
        qs = qs.filter(agent_id=params["agent_id"])
    if params.get("user_id"):
        qs = qs.filter(user_id=params["user_id"])
    if params.get("search"):
        qs = qs.filter(title__icontains=params["search"])
    n = 0
    for name in params:
        if name.startswith("metadata."):
            qs = _metadata_filter(qs, name[len("metadata."):], params.get(name), n)
            n += 1
    ordering = params.get("ordering") or "-updated_at"
    if ordering not in ORDERINGS:
        raise InvalidInput({"ordering": [f"Must be one of {', '.join(sorted(ORDERINGS))}."]})
    return qs.order_by(ordering, "-id" if ordering.startswith("-") else "id")


def message_list(*, session: Session) -> QuerySet[Message]:
    return Message.objects.filter(session=session).order_by("id")


def message_cursor(*, session: Session, after: str | None, before: str | None,
                   limit: int) -> tuple[list[Message], bool]:
    """A page of messages after or before a message id, oldest first; and whether more exist."""
    qs = message_list(session=session)
    cursor = after or before
    if not Message.objects.filter(session=session, pk=cursor).exists():
        raise NotFound(message="Cursor message not found in this session.")
    if after:
        items = list(qs.filter(id__gt=after)[: limit + 1])
        return items[:limit], len(items) > limit
    items = list(qs.filter(id__lt=before).order_by("-id")[: limit + 1])
    more = len(items) > limit
    return list(reversed(items[:limit])), more


def history_newest_first(*, session_id: str, after: str | None = None,
                         before: str | None = None) -> Iterator[RuntimeMessage]:
    """The conversation, newest first, read lazily (O(window) rows, O(log window) queries).

    A short conversation costs one small read; a long one reads batches that double in
    size, so a full context window is a handful of queries, never the whole session.
    A reply that called tools comes back as the model saw it (:func:`_with_tools`).
    ``after``/``before``: only messages with an id above / below that one.
    """
    for _, messages in history_units_newest_first(session_id=session_id, after=after,
                                                  before=before):
        yield from messages


def history_units_newest_first(
    *, session_id: str, after: str | None = None, before: str | None = None,
) -> Iterator[tuple[str, list[RuntimeMessage]]]:
    """Like :func:`history_newest_first`, one stored message at a time: its id and the
    runtime messages it stands for (newest first; several for a reply that called tools)."""
    last_id: str | None = before
    size = HISTORY_BATCH
    while True:
        qs = Message.objects.filter(session_id=session_id, role__in=["user", "assistant"])
        if last_id is not None:
            qs = qs.filter(id__lt=last_id)
        if after is not None:
            qs = qs.filter(id__gt=after)
        batch = list(qs.order_by("-id").values_list(
            "id", "role", "content", "tool_calls", "tool_results")[:size])
        for message_id, role, content, tool_calls, tool_results in batch:
            if role == "assistant" and tool_calls and tool_results:
                yield message_id, list(_with_tools(content, tool_calls, tool_results))
            else:
                yield message_id, [RuntimeMessage(role=role, content=content)]
            last_id = message_id
        if len(batch) < size:
            return
        size = min(size * 2, HISTORY_MAX_BATCH)


def _with_tools(content: str, tool_calls: Any, tool_results: Any) -> Iterator[RuntimeMessage]:
    """A stored reply that called tools, newest first as the turn had it: its text, the
    tools' results, the assistant message with the calls (each provider then renders them
    its own way: OpenAI tool messages, Anthropic tool_use/tool_result blocks). Only calls
    that have a result are kept: a call without one is invalid for both providers."""
    results = {r.get("id"): r for r in tool_results
               if isinstance(r, dict) and isinstance(r.get("id"), str)}
    calls = [ToolCall(id=c["id"], name=str(c.get("name") or ""),
                      arguments=c["arguments"] if isinstance(c.get("arguments"), dict) else {})
             for c in tool_calls
             if isinstance(c, dict) and isinstance(c.get("id"), str) and c["id"] in results]
    if not calls:
        yield RuntimeMessage(role="assistant", content=content)
        return
    yield RuntimeMessage(role="assistant", content=content)
    for call in reversed(calls):
        result = results[call.id]
        error = result.get("error")
        text = f"Error: {error}" if error is not None else str(result.get("result") or "")
        yield RuntimeMessage(role="tool", content=text, tool_call_id=call.id, name=call.name)
    yield RuntimeMessage(role="assistant", content="", tool_calls=tuple(calls))


def session_for_member(*, user: Any, session_id: str) -> Session | None:
    """A session of any workspace `user` is a member of (the chat page's /s/<id>), or None."""
    return (Session.objects.filter(pk=session_id, workspace__memberships__user=user)
            .select_related("workspace").first())


def feedback_list(*, session: Session) -> QuerySet[Feedback]:
    """The session's feedback, one per execution, oldest first."""
    return Feedback.objects.filter(session=session).order_by("created_at", "id")
