"""DRF hook for the shared rate limits (promptrails.ratelimit)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle


class WorkspaceRateThrottle(BaseThrottle):
    """Raises the 429 envelope itself (with Retry-After and X-RateLimit-* headers)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        # imported here: DRF loads this class while its own settings are initialising
        from promptrails.ratelimit import enforce
        from promptrails.tenancy import WorkspaceAuth

        if isinstance(request.auth, WorkspaceAuth):
            enforce(request.auth)
        return True
