"""Browser chat writes: browser keys, sessions with their resume tokens, turns.

The turn itself is the one every edge starts (chat.services.turn_start); this module only
adds what a public page needs around it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import Agent
from browser import tokens
from browser.access import Access
from browser.models import BrowserSession
from browser.origins import clean_origins
from chat import services as chat_services
from chat.models import Session
from promptrails.errors import Forbidden, InvalidInput
from promptrails.ids import new_id
from promptrails.models import BROWSER_KEY_PREFIX, ApiKey, Workspace
from promptrails.tenancy import scoped

DEFAULT_METADATA = {"channel": "browser_widget"}
KSUID = re.compile(r"^[0-9A-Za-z]{27}$")


def browser_key_create(
    *, workspace: Workspace, name: str, agent_ids: Iterable[str], origins: Iterable[str],
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiKey, str]:
    """A browser-only key: chat with these agents (of the workspace), from these exact
    origins. Returns the row and the raw key, which is never stored."""
    agents = list(dict.fromkeys(agent_ids))
    if not agents:
        raise InvalidInput({"agents": ["At least one agent is required."]})
    found = set(scoped(Agent.objects.all(), workspace).filter(pk__in=agents)
                .values_list("pk", flat=True))
    missing = [agent for agent in agents if agent not in found]
    if missing:
        raise InvalidInput({"agents": [f"Not an agent of this workspace: {missing[0]}."]})
    allowed = clean_origins(list(origins))
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise InvalidInput({"rate_limit_per_minute": ["Must be at least 1."]})
    raw, prefix, digest = ApiKey.generate(BROWSER_KEY_PREFIX)
    key = ApiKey.objects.create(
        workspace=workspace, name=name, prefix=prefix, key_hash=digest,
        kind=ApiKey.Kind.BROWSER, allowed_agent_ids=agents, allowed_origins=allowed,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return key, raw


def _visitor(tracking: Any, visitor_id: Any) -> str | None:
    if tracking is not True:
        return None
    if isinstance(visitor_id, str) and KSUID.match(visitor_id):
        return visitor_id
    return new_id()


def browser_session_create(
    *, access: Access, agent_id: Any, title: str, metadata: dict[str, Any] | None,
    visitor_tracking: Any = False, visitor_id: Any = None,
) -> tuple[Session, BrowserSession, str]:
    """A chat session of the bearer's agent, and its resume token (returned once; only its
    hash is kept), bound to the session, the key and the origin."""
    if agent_id != access.agent_id:
        raise Forbidden("This chat token is for another agent.")
    raw, digest = tokens.resume_token_new()
    with transaction.atomic():
        session = chat_services.session_create(
            workspace=access.workspace, agent_id=access.agent_id, title=title,
            metadata=dict(DEFAULT_METADATA) if metadata is None else metadata, user_id=None,
        )
        grant = BrowserSession.objects.create(
            session=session, api_key=access.key, origin=access.origin, token_hash=digest,
            visitor_id=_visitor(visitor_tracking, visitor_id),
        )
    return session, grant, raw


def browser_session_revoke(*, grant: BrowserSession) -> None:
    """The page gives the session up: its resume token stops working; the session stays."""
    BrowserSession.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now())


def browser_turn_start(
    *, grant: BrowserSession, content: str, client_context: dict[str, Any] | None,
    idempotency_key: str | None,
) -> chat_services.Turn:
    """A turn in the grant's session, through the same service every edge uses. The page's
    idempotency key is namespaced to the session (keys are unique per workspace, and every
    visitor of a public page shares it)."""
    key = None
    if idempotency_key is not None:
        key = "browser:" + hashlib.sha256(
            f"{grant.session_id}\0{idempotency_key}".encode()).hexdigest()
    return chat_services.turn_start(
        workspace=grant.session.workspace, session_id=grant.session_id, content=content,
        idempotency_key=key, client_context=client_context,
    )
