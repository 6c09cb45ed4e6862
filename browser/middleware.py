"""A browser key opens nothing but the token exchange: on every other API route it is a
403, told apart by its prefix before any lookup (promptrails.tenancy refuses it too, for
the routes that bypass this middleware, like the WebSocket)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase

from promptrails.api.errors import error_response
from promptrails.middleware import _Both
from promptrails.models import BROWSER_KEY_PREFIX

TOKEN_PATH = "/api/v1/browser/chat/token"  # noqa: S105 - a route, not a secret


class BrowserKeyBoundaryMiddleware(_Both):
    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if not request.path.startswith("/api/") or request.path == TOKEN_PATH:
            return None
        raw = request.META.get("HTTP_X_API_KEY", "")
        if isinstance(raw, str) and raw.strip().startswith(BROWSER_KEY_PREFIX):
            return error_response(
                "forbidden",
                f"A browser key opens only POST {TOKEN_PATH}; the management API needs a "
                "workspace key.", 403)
        return None
