"""Single-use WebSocket tickets (browsers cannot set headers on a WebSocket)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from promptrails.models import ApiKey

TICKET_TTL_SECONDS = 60
_PREFIX = "wsticket:"


def ticket_issue(*, workspace_id: str, session_id: str, user_id: int | None,
                 api_key_id: str | None = None) -> tuple[str, Any]:
    """A ticket for the session's socket; `api_key_id` is the key that asked for it (None
    for a signed-in user), which must still be valid when the ticket is redeemed."""
    ticket = secrets.token_urlsafe(32)
    cache.set(
        _PREFIX + ticket,
        {"workspace_id": workspace_id, "session_id": session_id, "user_id": user_id,
         "api_key_id": api_key_id},
        TICKET_TTL_SECONDS,
    )
    return ticket, timezone.now() + timedelta(seconds=TICKET_TTL_SECONDS)


def ticket_redeem(ticket: str) -> dict[str, Any] | None:
    """The ticket's grant, once: a second redeem, an expired ticket or one issued under an
    API key revoked (or deleted) since gets None."""
    if not ticket or len(ticket) > 100:
        return None
    key = _PREFIX + ticket
    grant = cache.get(key)
    if grant is None or not cache.delete(key) or not isinstance(grant, dict):
        return None
    api_key_id = grant.get("api_key_id")
    if api_key_id is not None and not ApiKey.objects.active().filter(pk=api_key_id).exists():
        return None
    return grant
