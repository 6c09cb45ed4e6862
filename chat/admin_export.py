"""The sessions export: JSON streamed session by session, never all in memory.

Sessions are read with a server-side cursor (`.iterator(chunk_size=...)`); their messages
are fetched per batch of sessions in one ordered query, also iterated. Memory stays at
one batch, whatever the number of sessions selected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from chat.models import Message, Session

SESSION_BATCH = 200
MESSAGE_CHUNK = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _message(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "metadata": message.metadata,
        "tool_calls": message.tool_calls,
        "tool_results": message.tool_results,
        "model": message.model,
        "token_count": message.token_count,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "cost": message.cost,
        "execution_id": message.execution_id,
        "created_at": _iso(message.created_at),
    }


def _session(session: Session, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": session.id,
        "workspace_id": session.workspace_id,
        "agent_id": session.agent_id,
        "user_id": session.user_id,
        "title": session.title,
        "metadata": session.metadata,
        "created_at": _iso(session.created_at),
        "updated_at": _iso(session.updated_at),
        "messages": messages,
    }


def export_chunks(queryset: QuerySet[Session]) -> Iterator[str]:
    """`[`, one JSON object per session (messages in order), `]`."""
    sessions = (
        queryset.order_by("pk")
        .only("id", "workspace_id", "agent_id", "user_id", "title", "metadata", "created_at",
              "updated_at")
        .iterator(chunk_size=SESSION_BATCH)
    )
    yield "["
    first = True
    while batch := list(islice(sessions, SESSION_BATCH)):
        by_session: dict[str, list[dict[str, Any]]] = {s.id: [] for s in batch}
        messages = (
            Message.objects.filter(session_id__in=list(by_session))
            .order_by("session_id", "id")
            .iterator(chunk_size=MESSAGE_CHUNK)
        )
        for message in messages:
            by_session[message.session_id].append(_message(message))
        for session in batch:
            yield ("" if first else ",") + "\n" + json.dumps(
                _session(session, by_session[session.id]), ensure_ascii=False
            )
            first = False
    yield "\n]\n"


def export_response(queryset: QuerySet[Session]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export_chunks(queryset), content_type="application/json")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="sessions-{stamp}.json"'
    return response
