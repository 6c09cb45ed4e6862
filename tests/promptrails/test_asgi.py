"""The ASGI entry point: requests reach the view without a thread made just for them."""

from __future__ import annotations

from django.core import signals
from django.db import close_old_connections, reset_queries


def test_request_start_has_no_synchronous_receivers() -> None:
    from promptrails.asgi import no_thread_before_the_view

    # (Django's test client and CaptureQueriesContext reconnect these around their use)
    no_thread_before_the_view()
    try:
        # a synchronous receiver would send every request (the streaming ones included) to
        # a thread made for it before the view runs
        sync_receivers, async_receivers = signals.request_started._live_receivers(None)
        assert sync_receivers == [] and async_receivers == []
        # the connections a request's synchronous work opened are still closed at its end
        finished, _ = signals.request_finished._live_receivers(None)
        assert close_old_connections in finished
    finally:
        signals.request_started.connect(reset_queries)
        signals.request_started.connect(close_old_connections)
