"""WebSocket routing: the chat consumer behind the session/auth middleware."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from django.urls import path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("api/v1/chat/sessions/<str:session_id>/ws", ChatConsumer.as_asgi()),
]


def websocket_application(url_router: Any) -> Any:
    # Origins are checked in the consumer for cookie-authenticated sockets only: API-key and
    # ticket clients (servers, apps) send no Origin or any Origin.
    return AuthMiddlewareStack(url_router(websocket_urlpatterns))
