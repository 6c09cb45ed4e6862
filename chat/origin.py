"""Same-origin check of a cookie-authenticated WebSocket handshake, by Django's CSRF rules.

Browsers send the session cookie with a WebSocket opened from any site, and a WebSocket has
no CSRF token: its Origin is the only defence (cross-site WebSocket hijacking). Accepted, as
CsrfViewMiddleware accepts an unsafe request's Origin: exactly the handshake's own
`scheme://host[:port]` (the Host header, which must be in ALLOWED_HOSTS; https when the
socket is wss, or when SECURE_PROXY_SSL_HEADER says so), or an origin of
CSRF_TRUSTED_ORIGINS (exact, or `https://*.example.com` for its subdomains). Scheme, host and
port must all match: `http://localhost:31337` is not the origin of `localhost:8000`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.http import is_same_domain


class _Handshake(HttpRequest):
    """The handshake as a Django request: Django's own get_host() and scheme rules."""

    def __init__(self, scope: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        super().__init__()
        self._socket_scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
        self.META = {f"HTTP_{name.upper().replace('-', '_')}": value
                     for name, value in headers.items()}
        host, port = scope.get("server") or (None, None)
        self.META["SERVER_NAME"] = str(host or "")
        self.META["SERVER_PORT"] = str(port or "")

    def _get_scheme(self) -> str:
        return self._socket_scheme


def same_origin(scope: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    """Whether the handshake's Origin header is this server's own (or a trusted) origin."""
    origin = headers.get("origin")
    if not origin or origin == "null":
        return False
    request = _Handshake(scope, headers)
    try:
        own = f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        own = None
    if origin == own:
        return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in (entry for entry in trusted if "*" not in entry):
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, allowed.netloc.lstrip("*"))
        for allowed in (urlsplit(entry) for entry in trusted if "*" in entry)
        if allowed.scheme == parsed.scheme
    )
