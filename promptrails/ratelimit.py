"""Rate limits: requests per minute per API key and per workspace, concurrent turns.

Fixed one-minute windows counted in the Django cache (Redis when REDIS_URL is set, so all
processes share the counts; in-process otherwise). Over the limit: 429 `rate_limited` with
Retry-After and X-RateLimit-* headers.

When the cache cannot be reached the limits fail open: requests are let through (an outage
of Redis must not turn every authenticated request into a 500, while /healthz already says
503), with one warning per OUTAGE_LOG_SECONDS in the log, and the cache is not asked again
for OUTAGE_RETRY_SECONDS (no connect timeout paid by every request meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

from django.conf import settings
from django.core.cache import cache

from promptrails.errors import RateLimited
from promptrails.tenancy import WorkspaceAuth

logger = logging.getLogger("promptrails.ratelimit")
WINDOW = 60
OUTAGE_RETRY_SECONDS = 5.0
OUTAGE_LOG_SECONDS = 60.0


@dataclass(frozen=True)
class Limit:
    scope: str
    ident: str
    limit: int


class _Outage:
    """The cache's state as the limiter saw it: when to try it again, when to warn again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retry_at = 0.0  # monotonic(); the cache is skipped until then
        self.warned_at: float | None = None
        self.let_through = 0  # requests not counted since the last warning

    def skipping(self) -> bool:
        if monotonic() >= self.retry_at:
            return False
        with self._lock:
            self.let_through += 1
        return True

    def failed(self, exc: Exception) -> None:
        now = monotonic()
        with self._lock:
            self.retry_at = now + OUTAGE_RETRY_SECONDS
            self.let_through += 1
            if self.warned_at is not None and now - self.warned_at < OUTAGE_LOG_SECONDS:
                return
            self.warned_at, count, self.let_through = now, self.let_through, 0
        logger.warning(
            "rate limits not enforced: the cache is unreachable (%s: %s); requests are let "
            "through (%d since the last warning), the cache is tried again every %.0f s",
            type(exc).__name__, exc, count, OUTAGE_RETRY_SECONDS,
        )

    def recovered(self) -> None:
        with self._lock:
            if not self.retry_at:
                return
            count = self.let_through
            self.retry_at, self.warned_at, self.let_through = 0.0, None, 0
        logger.warning("rate limits enforced again: the cache is back (%d requests were let "
                       "through since the last warning)", count)


_outage = _Outage()


def _hit(limit: Limit, now: float) -> tuple[int, int] | None:
    """Count one request in the current window: (count, seconds until reset), or None when
    the cache is unreachable (fail open)."""
    if _outage.skipping():
        return None
    window = int(now // WINDOW)
    key = f"rl:{limit.scope}:{limit.ident}:{window}"
    try:
        cache.add(key, 0, WINDOW + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, WINDOW + 5)
            count = 1
    except Exception as exc:  # noqa: BLE001 - any cache backend's connection errors
        _outage.failed(exc)
        return None
    if _outage.retry_at:
        _outage.recovered()
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
    enforce_limits(limits_for(auth))


def enforce_limits(limits: list[Limit]) -> None:
    """Count this request against each of `limits`; 429 when one is exceeded."""
    now = time.time()
    for limit in limits:
        hit = _hit(limit, now)
        if hit is None:
            return
        count, reset = hit
        if count > limit.limit:
            raise RateLimited(
                f"Rate limit exceeded: {limit.limit} requests per minute per "
                f"{'API key' if limit.scope == 'key' else limit.scope}.",
                details={"limit": limit.limit, "scope": limit.scope, "retry_after": reset},
                headers={"Retry-After": str(reset), "X-RateLimit-Limit": str(limit.limit),
                         "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            )


def enforce_concurrent_turns(*, limit: int | None, running: Callable[[], int]) -> None:
    """429 when the workspace already runs its limit of turns (`running()` is only asked
    when a limit is set)."""
    allowed = limit or settings.MAX_CONCURRENT_TURNS_PER_WORKSPACE
    if allowed > 0 and running() >= allowed:
        raise RateLimited(
            f"Too many turns running in this workspace (limit {allowed}); retry shortly.",
            details={"limit": allowed, "scope": "concurrent_turns"},
            headers={"Retry-After": "1", "X-RateLimit-Limit": str(allowed),
                     "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"},
        )


def login_attempt(ident: str) -> bool:
    """Count a sign-in attempt for a client address; False when over the limit."""
    hit = _hit(Limit("login", ident, settings.RATE_LIMIT_LOGIN_PER_MINUTE), time.time())
    return hit is None or hit[0] <= settings.RATE_LIMIT_LOGIN_PER_MINUTE
