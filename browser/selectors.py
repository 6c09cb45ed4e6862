"""Browser chat reads."""

from __future__ import annotations

from typing import Any

from chat.models import Message, Session
from promptrails.api.formats import iso
from promptrails.errors import NotFound


def message_window(*, session: Session, limit: int, before: str | None
                   ) -> tuple[list[Message], bool, int]:
    """The newest `limit` messages (before the message `before`, if given), oldest first;
    whether older ones exist; how many the session has."""
    qs = Message.objects.filter(session=session)
    if before:
        if not qs.filter(pk=before).exists():
            raise NotFound(message="Cursor message not found in this session.")
        qs = qs.filter(id__lt=before)
    newest = list(qs.order_by("-id")[: limit + 1])
    total = Message.objects.filter(session=session).count()
    return list(reversed(newest[:limit])), len(newest) > limit, total


def browser_message_data(message: Message) -> dict[str, Any]:
    """What a page sees of a stored message: no costs, tokens, tool payloads or errors."""
    metadata: dict[str, Any] = {"execution_id": message.execution_id}
    if (message.metadata or {}).get("incomplete"):
        metadata["incomplete"] = True
    return {"id": message.id, "session_id": message.session_id, "role": message.role,
            "content": message.content, "metadata": metadata,
            "execution_id": message.execution_id, "created_at": iso(message.created_at)}
