"""ASGI entry point: HTTP through Django, WebSocket through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptrails.settings")
django_asgi_app = get_asgi_application()

from django.core import signals  # noqa: E402
from django.db import close_old_connections, reset_queries  # noqa: E402


def no_thread_before_the_view() -> None:
    """Under ASGI each request's synchronous work runs in a thread made for that request, so
    at its start Django's two request_started receivers find no connection to close and no
    query log to reset — but, being synchronous, they cost every request (the streaming ones
    included) a new thread and a hop to it before the view runs. The request's connections
    are still closed when it finishes (request_finished), and ours run in promptrails.db's
    pool, which tidies its own."""
    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)


no_thread_before_the_view()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from chat.routing import websocket_application  # noqa: E402

# Static files (chat page, admin) straight from the apps: async, nothing to collect. Behind
# a proxy in production, serve `collectstatic` output there and set SERVE_STATIC=0.
http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": websocket_application(URLRouter),
    }
)
