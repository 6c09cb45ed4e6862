"""ASGI entry point: HTTP through Django, WebSocket through Channels."""

from __future__ import annotations

import gc
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptrails.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from promptrails.asgi_middleware import (  # noqa: E402
    BodyLimit,
    Handler,
    no_thread_before_the_view,
    run_hooks_inline,
)

no_thread_before_the_view()
run_hooks_inline()
# A streaming server allocates a few objects per token and keeps every live run's events:
# with CPython's default thresholds the cyclic GC ran a full collection over all of them
# every few seconds, stopping the event loop and every stream with it (bench/RESULTS.md,
# fifth round: 1,000 slow streams). Collect the young generation less often, full
# collections rarely, and never walk what start-up made.
gc.set_threshold(50_000, 20, 100)
gc.freeze()
django_asgi_app = Handler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from chat.routing import websocket_application  # noqa: E402
from executions.runner import ensure_housekeeping  # noqa: E402

# Static files (chat page, admin) straight from the apps: async, nothing to collect. Behind
# a proxy in production, serve `collectstatic` output there and set SERVE_STATIC=0.
# Every route's body limit is enforced while the body is read (promptrails.asgi_middleware).
http_app = BodyLimit(
    ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app)

_router = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": websocket_application(URLRouter),
    }
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every connection makes sure the process's housekeeping runs (recovery of stale runs,
    expiry of parked approvals), then is routed by protocol."""
    ensure_housekeeping()
    await _router(scope, receive, send)
