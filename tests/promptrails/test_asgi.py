"""The ASGI entry point: requests reach the view without a thread made just for them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.core import signals
from django.db import close_old_connections, reset_queries

from tests.helpers import make_tenant


@pytest.fixture
def production_signals() -> Iterator[None]:
    """request_started as promptrails.asgi leaves it (Django's test client and
    CaptureQueriesContext reconnect its receivers around their own use); restored after."""
    from promptrails.asgi_middleware import no_thread_before_the_view

    no_thread_before_the_view()
    yield
    signals.request_started.connect(reset_queries)
    signals.request_started.connect(close_old_connections)


def test_request_start_has_no_synchronous_receivers(production_signals: None) -> None:
    # a synchronous receiver would send every request (the streaming ones included) to a
    # thread made for it before the view runs
    sync_receivers, async_receivers = signals.request_started._live_receivers(None)
    assert sync_receivers == [] and async_receivers == []
    # the connections a request's synchronous work opened are still closed at its end
    finished, _ = signals.request_finished._live_receivers(None)
    assert close_old_connections in finished


def _through_asgi() -> httpx.AsyncClient:
    from promptrails.asgi import application

    # the app types its scope as a dict, httpx's transport as any MutableMapping: same calls
    app = cast(Any, application)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://testserver")


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch, production_signals: None) -> list[str]:
    """The functions sent to a thread with asgiref's sync_to_async while the test runs."""
    calls: list[str] = []
    real = SyncToAsync.__call__

    def counting(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    return calls


@pytest.mark.django_db(transaction=True)
async def test_django_middleware_hooks_run_on_the_loop(thread_hops: list[str]) -> None:
    tenant = await sync_to_async(make_tenant)(f"asgi-{uuid.uuid4().hex[:6]}")
    thread_hops.clear()
    async with _through_asgi() as http:
        response = await http.get("/api/v1/executions/nope/stream",
                                  headers={"X-API-Key": tenant.raw_key})
    assert response.status_code == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware ran
    assert response.headers["X-Frame-Options"] == "DENY"  # XFrameOptionsMiddleware ran
    # before: every process_request / process_view / process_response went to a thread
    # (13 hops); now only the view's database work (promptrails.db, its own pool), Django's
    # log line for a 4xx and its closing of the response, after it was sent
    assert [hop for hop in thread_hops if hop != "_tidy.<locals>.call"] == [
        "log_response", "HttpResponseBase.close"]


@pytest.mark.django_db(transaction=True)
async def test_a_session_that_must_be_saved_still_is(thread_hops: list[str]) -> None:
    from django.contrib.auth.models import User
    from django.contrib.sessions.models import Session

    await sync_to_async(User.objects.create_superuser)("asgi-admin", "a@example.com", "pw-123456")
    async with _through_asgi() as http:
        page = await http.get("/admin/login/")
        token = page.cookies["csrftoken"]
        refused = await http.post("/admin/login/", data={"username": "asgi-admin",
                                                         "password": "pw-123456"})
        assert refused.status_code == 403  # CSRF process_view, now on the loop, still checks
        thread_hops.clear()
        signed_in = await http.post(
            "/admin/login/?next=/admin/",
            data={"username": "asgi-admin", "password": "pw-123456",
                  "csrfmiddlewaretoken": token})
        assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/admin/"
        assert "SessionMiddleware.process_response" in thread_hops  # saved in a thread
        assert await sync_to_async(Session.objects.count)() == 1
        assert (await http.get("/admin/")).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_requests_run_their_sync_work_on_kept_threads(production_signals: None) -> None:
    """A sync view and the closing of its response share one thread (asgiref's thread
    sensitivity); the next request gets a kept thread, not a new one."""
    import threading

    from promptrails.request_threads import request_threads

    tenant = await sync_to_async(make_tenant)(f"asgi-{uuid.uuid4().hex[:6]}")
    seen: list[threading.Thread] = []  # kept alive: their ids cannot be reused

    def on_finished(**_: Any) -> None:  # runs in Django's response.close(), thread-sensitive
        seen.append(threading.current_thread())

    signals.request_finished.connect(on_finished)
    try:
        async with _through_asgi() as http:
            for _ in range(5):  # a sync DRF view, then an async one
                listed = await http.get("/api/v1/chat/sessions",
                                        headers={"X-API-Key": tenant.raw_key})
                missing = await http.get("/api/v1/executions/nope/stream",
                                         headers={"X-API-Key": tenant.raw_key})
                assert listed.status_code == 200 and missing.status_code == 404
    finally:
        signals.request_finished.disconnect(on_finished)
    assert len(seen) == 10
    # one request after another: one thread for all their sync work, started once (before,
    # each request started a thread of its own and joined it on the loop at its end)
    assert len({id(thread) for thread in seen}) == 1 and seen[0].is_alive()
    assert request_threads.idle() >= 1


def test_a_busy_request_thread_is_not_lent_again() -> None:
    """A request cancelled while its sync view still runs gives back a busy executor: it is
    not reused (the next request would queue behind that view) and ends when it is done."""
    import threading

    from promptrails.request_threads import RequestThreads

    threads = RequestThreads(keep=4)
    busy = threads.take()
    release = threading.Event()
    running = busy.submit(release.wait, 10)
    threads.give_back(busy)
    assert threads.idle() == 0
    fresh = threads.take()
    assert fresh is not busy
    assert fresh.submit(lambda: 42).result(5) == 42
    threads.give_back(fresh)
    assert threads.idle() == 1 and threads.take() is fresh  # an idle one is kept and reused
    release.set()
    assert running.result(5) is True
    busy.shutdown(wait=True)  # already shut down by give_back: its thread ends after the call
