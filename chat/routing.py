"""WebSocket routing (the chat consumer arrives with the WebSocket issue)."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator


def websocket_application(url_router: Any) -> Any:
    return AllowedHostsOriginValidator(url_router([]))
