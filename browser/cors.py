"""CORS for the browser chat routes, from the browser keys' origins (never from
CORS_ALLOWED_ORIGINS, which is for the management API).

Once a request names its key (the X-API-Key of the token exchange, or the key behind a
bearer, even a refused one), only that key's origins get `Access-Control-Allow-Origin`.
A preflight, or a request whose key is unknown, gets it only when some active browser key
lists the origin. Credentials (cookies) are never allowed: the widget sends none.
"""

from __future__ import annotations

from django.http import HttpResponseBase

from promptrails.models import ApiKey

ALLOW_HEADERS = ("accept, authorization, content-type, idempotency-key, last-event-id, "
                 "x-api-key, x-chat-resume-token")
EXPOSE_HEADERS = "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
PREFLIGHT_MAX_AGE = "600"


def origin_listed(origin: str) -> bool:
    """Some active browser key lists `origin` (sync)."""
    if not origin:
        return False
    listed = ApiKey.objects.filter(kind=ApiKey.Kind.BROWSER, revoked_at__isnull=True
                                   ).values_list("allowed_origins", flat=True)
    return any(origin in origins for origins in listed if isinstance(origins, list))


def allow(response: HttpResponseBase, origin: str) -> None:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def vary(response: HttpResponseBase) -> None:
    existing = response.get("Vary")
    response["Vary"] = f"{existing}, Origin" if existing else "Origin"


def preflight(response: HttpResponseBase, origin: str, methods: set[str]) -> None:
    allow(response, origin)
    response["Access-Control-Allow-Methods"] = ", ".join(sorted(methods | {"OPTIONS"}))
    response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
