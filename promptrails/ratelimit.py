"""Rate limits: requests per minute per API key and per workspace, concurrent turns.

Fixed one-minute windows counted in the Django cache (Redis when REDIS_URL is set, so all
processes share the counts; in-process otherwise). Over the limit: 429 `rate_limited` with
Retry-After and X-RateLimit-* headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from promptrails.api.errors import ApiError
from promptrails.tenancy import WorkspaceAuth

WINDOW = 60


@dataclass(frozen=True)
class Limit:
    scope: str
    ident: str
    limit: int


def _hit(limit: Limit, now: float) -> tuple[int, int]:
    """Count one request in the current window; returns (count, seconds until reset)."""
    window = int(now // WINDOW)
    key = f"rl:{limit.scope}:{limit.ident}:{window}"
    cache.add(key, 0, WINDOW + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, WINDOW + 5)
        count = 1
    return int(count), int(WINDOW - now % WINDOW) + 1


def limits_for(auth: WorkspaceAuth) -> list[Limit]:
    workspace = auth.workspace
    limits = [Limit("ws", workspace.pk,
                    workspace.rate_limit_per_minute or settings.RATE_LIMIT_WORKSPACE_PER_MINUTE)]
    if auth.api_key is not None:
        limits.append(Limit("key", auth.api_key.pk, settings.RATE_LIMIT_KEY_PER_MINUTE))
    elif auth.user is not None:
        limits.append(Limit("user", str(auth.user.pk), settings.RATE_LIMIT_KEY_PER_MINUTE))
    return [limit for limit in limits if limit.limit > 0]


def enforce(auth: WorkspaceAuth) -> None:
    """Count this request against every limit that applies; 429 when one is exceeded."""
    now = time.time()
    for limit in limits_for(auth):
        count, reset = _hit(limit, now)
        if count > limit.limit:
            raise ApiError(
                f"Rate limit exceeded: {limit.limit} requests per minute per "
                f"{'API key' if limit.scope == 'key' else limit.scope}.",
                code="rate_limited", status_code=429,
                details={"limit": limit.limit, "scope": limit.scope, "retry_after": reset},
                headers={"Retry-After": str(reset), "X-RateLimit-Limit": str(limit.limit),
                         "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            )


def enforce_concurrent_turns(*, limit: int | None, running: Callable[[], int]) -> None:
    """429 when the workspace already runs its limit of turns (`running()` is only asked
    when a limit is set)."""
    allowed = limit or settings.MAX_CONCURRENT_TURNS_PER_WORKSPACE
    if allowed > 0 and running() >= allowed:
        raise ApiError(
            f"Too many turns running in this workspace (limit {allowed}); retry shortly.",
            code="rate_limited", status_code=429,
            details={"limit": allowed, "scope": "concurrent_turns"},
            headers={"Retry-After": "1", "X-RateLimit-Limit": str(allowed),
                     "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"},
        )


def login_attempt(ident: str) -> bool:
    """Count a sign-in attempt for an IP; False when over the limit."""
    count, _ = _hit(Limit("login", ident, settings.RATE_LIMIT_LOGIN_PER_MINUTE), time.time())
    return count <= settings.RATE_LIMIT_LOGIN_PER_MINUTE
