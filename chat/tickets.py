"""Single-use WebSocket tickets (browsers cannot set headers on a WebSocket)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

TICKET_TTL_SECONDS = 60
_PREFIX = "wsticket:"


def ticket_issue(*, workspace_id: str, session_id: str, user_id: int | None) -> tuple[str, Any]:
    ticket = secrets.token_urlsafe(32)
    cache.set(
        _PREFIX + ticket,
        {"workspace_id": workspace_id, "session_id": session_id, "user_id": user_id},
        TICKET_TTL_SECONDS,
    )
    return ticket, timezone.now() + timedelta(seconds=TICKET_TTL_SECONDS)


def ticket_redeem(ticket: str) -> dict[str, Any] | None:
    """The ticket's grant, once: a second redeem (or an expired ticket) gets None."""
    if not ticket or len(ticket) > 100:
        return None
    key = _PREFIX + ticket
    grant = cache.get(key)
    if grant is None or not cache.delete(key):
        return None
    return grant if isinstance(grant, dict) else None
