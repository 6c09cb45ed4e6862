"""Who is asking on a browser chat route: a browser key (the token exchange), or a bearer
of one plus, for a session, its resume token. Sync (called through run_db); every refusal
is an DomainError in the envelope: 401 for credentials that are missing, wrong, expired or
revoked (the widget then fetches a new bearer), 403 for credentials that are fine but not
for this origin, agent or session."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest

from agents.models import Agent
from browser import tokens
from browser.models import BrowserSession
from promptrails.client_address import client_address
from promptrails.errors import Forbidden, InvalidInput, Unauthorized
from promptrails.models import ApiKey, Workspace, hash_api_key
from promptrails.ratelimit import Limit, enforce_limits


@dataclass
class Caller:
    """The parts of a request the browser routes read, and the key once it is known (its
    origins decide CORS: browser/cors.py)."""

    origin: str
    address: str
    api_key: str | None
    authorization: str | None
    resume_token: str | None
    key: ApiKey | None = field(default=None)

    @classmethod
    def of(cls, request: HttpRequest) -> Caller:
        return cls(origin=request.headers.get("Origin", ""),
                   address=client_address(request.META),
                   api_key=request.headers.get("X-API-Key"),
                   authorization=request.headers.get("Authorization"),
                   resume_token=request.headers.get("X-Chat-Resume-Token"))


@dataclass(frozen=True)
class Access:
    """A valid bearer: its key (with the workspace), the agent and the origin it is for."""

    key: ApiKey
    workspace: Workspace
    agent_id: str
    origin: str


def _count(caller: Caller, key: ApiKey) -> None:
    """The key's own limit per visitor address, and the workspace's limit (429 beyond)."""
    workspace = key.workspace
    enforce_limits([
        Limit("visitor", f"{key.pk}:{caller.address}",
              key.rate_limit_per_minute or settings.BROWSER_RATE_LIMIT_PER_MINUTE),
        Limit("ws", workspace.pk,
              workspace.rate_limit_per_minute or settings.RATE_LIMIT_WORKSPACE_PER_MINUTE),
    ])


def _check_origin(caller: Caller, key: ApiKey) -> str:
    if not caller.origin:
        raise Forbidden("The browser chat API is for web pages: the Origin header is missing.")
    if caller.origin not in key.allowed_origins:
        raise Forbidden(f"This key may not be used from {caller.origin}.")
    return caller.origin


def _active_browser_key(**lookup: str) -> ApiKey | None:
    try:
        return ApiKey.objects.select_related("workspace").get(
            kind=ApiKey.Kind.BROWSER, revoked_at__isnull=True, **lookup)
    except ApiKey.DoesNotExist:
        return None


def key_access(caller: Caller, agent_id: object) -> Access:
    """The token exchange: a browser key from one of its origins, for one of its agents."""
    raw = (caller.api_key or "").strip()
    if not raw:
        raise Unauthorized("Send the browser key in the X-API-Key header.")
    digest = hash_api_key(raw)
    key = _active_browser_key(key_hash=digest)
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        raise Unauthorized("Invalid or revoked browser key.")
    caller.key = key
    _count(caller, key)
    origin = _check_origin(caller, key)
    if not isinstance(agent_id, str) or not agent_id:
        raise InvalidInput({"agent_id": ["This field is required."]})
    if agent_id not in key.allowed_agent_ids or not Agent.objects.filter(
        pk=agent_id, workspace_id=key.workspace_id
    ).exists():
        raise Forbidden("This key may not chat with that agent.")
    return Access(key=key, workspace=key.workspace, agent_id=agent_id, origin=origin)


def bearer_access(caller: Caller) -> Access:
    """A bearer from the token exchange, still valid for its key, agent and origin."""
    scheme, _, token = (caller.authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the chat token as Authorization: Bearer <token>.")
    try:
        claims = tokens.access_token_read(token.strip())
    except tokens.TokenExpired:
        raise Unauthorized("The chat token has expired.") from None
    except tokens.TokenInvalid:
        raise Unauthorized("Invalid chat token.") from None
    key = _active_browser_key(pk=claims.key_id)
    if key is None:
        raise Unauthorized("The browser key of this chat token was revoked.")
    caller.key = key
    _count(caller, key)
    if caller.origin != claims.origin:
        raise Forbidden("This chat token was issued to another origin.")
    _check_origin(caller, key)
    if claims.agent_id not in key.allowed_agent_ids:
        raise Unauthorized("The browser key no longer allows this agent.")
    return Access(key=key, workspace=key.workspace, agent_id=claims.agent_id,
                  origin=claims.origin)


def resume_grant(access: Access, caller: Caller, session_id: str) -> BrowserSession:
    """The session `session_id`, opened by its resume token for this key, agent and origin.
    Every mismatch is the same 403 (the widget then starts a new session)."""
    raw = (caller.resume_token or "").strip()
    refused = Forbidden("This chat session cannot be resumed with this token.")
    if not raw:
        raise refused
    digest = tokens.resume_token_hash(raw)
    grant = (BrowserSession.objects.select_related("session", "session__workspace")
             .filter(token_hash=digest, session_id=session_id).first())
    if grant is None or grant.revoked_at is not None or grant.api_key_id != access.key.pk \
            or grant.origin != access.origin or grant.session.agent_id != access.agent_id \
            or grant.session.workspace_id != access.workspace.pk \
            or not hmac.compare_digest(grant.token_hash, digest):
        raise refused
    return grant
