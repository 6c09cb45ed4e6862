"""Rate limits: per key and per workspace per minute, concurrent turns, sign-in attempts."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from django.test import Client
from rest_framework.test import APIClient

from agents.services import demo_agent_ensure
from executions.models import Execution
from promptrails.services import api_key_create
from tests.helpers import Tenant, assert_error, make_tenant
from tests.live import LiveServer, start_server
from tests.support.live import ensure_local_model

LIST = "/api/v1/llm-models"


@pytest.fixture(autouse=True)
def one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the limiter's clock in the middle of one window: the counts are per fixed
    minute, so a test whose requests straddle a minute boundary would see two budgets."""
    middle = (time.time() // 60) * 60 + 30
    monkeypatch.setattr("promptrails.ratelimit.time", SimpleNamespace(time=lambda: middle))


def test_per_key_limit_gives_429_with_headers(tenant: Tenant, settings: object) -> None:
    settings.RATE_LIMIT_KEY_PER_MINUTE = 3  # type: ignore[attr-defined]
    for _ in range(3):
        assert tenant.client.get(LIST).status_code == 200
    response = tenant.client.get(LIST)
    error = assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1
    assert response["X-RateLimit-Limit"] == "3" and response["X-RateLimit-Remaining"] == "0"
    assert error["details"]["scope"] == "key"
    # another key of the same workspace has its own budget
    _, raw = api_key_create(workspace=tenant.workspace)
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=raw)
    assert other.get(LIST).status_code == 200


def test_per_workspace_limit_from_the_admin_field(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.workspace.rate_limit_per_minute = 2
    tenant.workspace.save()
    _, raw = api_key_create(workspace=tenant.workspace)
    second = APIClient()
    second.credentials(HTTP_X_API_KEY=raw)
    assert tenant.client.get(LIST).status_code == 200
    assert second.get(LIST).status_code == 200
    error = assert_error(second.get(LIST), 429, "rate_limited")
    assert error["details"]["scope"] == "ws"
    assert other_tenant.client.get(LIST).status_code == 200  # other workspaces unaffected


@pytest.mark.django_db(transaction=True)
def test_async_send_route_is_limited_too(settings: object) -> None:
    from tests.helpers import make_tenant

    ensure_local_model()
    tenant = make_tenant(f"rl-{uuid.uuid4().hex[:6]}")
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session_id = tenant.client.post("/api/v1/chat/sessions", {"agent_id": agent.id},
                                    format="json").json()["data"]["id"]
    settings.RATE_LIMIT_KEY_PER_MINUTE = 3  # type: ignore[attr-defined]  # create + 2 sends
    url = f"/api/v1/chat/sessions/{session_id}/messages"
    assert tenant.client.post(url, {"content": "one"}, format="json").status_code == 201
    assert tenant.client.post(url, {"content": "two"}, format="json").status_code == 201
    assert_error(tenant.client.post(url, {"content": "three"}, format="json"), 429,
                 "rate_limited")


@pytest.mark.django_db(transaction=True)
def test_concurrent_turns_limit() -> None:
    from tests.helpers import make_tenant

    ensure_local_model()
    tenant = make_tenant(f"ct-{uuid.uuid4().hex[:6]}")
    tenant.workspace.max_concurrent_turns = 1
    tenant.workspace.save()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    Execution.objects.create(workspace=tenant.workspace, agent=agent, status="running")
    session_id = tenant.client.post("/api/v1/chat/sessions", {"agent_id": agent.id},
                                    format="json").json()["data"]["id"]
    response = tenant.client.post(f"/api/v1/chat/sessions/{session_id}/messages",
                                  {"content": "hi"}, format="json")
    error = assert_error(response, 429, "rate_limited")
    assert error["details"]["scope"] == "concurrent_turns"
    from chat.models import Message

    assert not Message.objects.filter(session_id=session_id).exists()


@pytest.mark.django_db
def test_sign_in_attempts_are_throttled(settings: object) -> None:
    settings.RATE_LIMIT_LOGIN_PER_MINUTE = 3  # type: ignore[attr-defined]
    client = Client(REMOTE_ADDR=f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")
    codes = [client.post("/admin/login/", {"username": "x", "password": "y"}).status_code
             for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429


def test_a_new_window_brings_a_new_budget(monkeypatch: pytest.MonkeyPatch,
                                          settings: object) -> None:
    from promptrails import ratelimit

    settings.RATE_LIMIT_LOGIN_PER_MINUTE = 2  # type: ignore[attr-defined]
    ip = f"login-window-{uuid.uuid4().hex}"
    assert [ratelimit.login_attempt(ip) for _ in range(3)] == [True, True, False]
    later = ratelimit.time.time() + 60
    monkeypatch.setattr("promptrails.ratelimit.time", SimpleNamespace(time=lambda: later))
    assert ratelimit.login_attempt(ip) is True


def _unreachable_redis() -> str:
    from tests.live import free_port

    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


@pytest.fixture
def fresh_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter's view of the cache as in a new process (another test may have left it
    skipping the cache for a few seconds)."""
    from promptrails import ratelimit

    monkeypatch.setattr(ratelimit, "_outage", ratelimit._Outage())


def test_an_unreachable_cache_fails_open_with_one_warning(
    tenant: Tenant, settings: Any, caplog: pytest.LogCaptureFixture, fresh_outage: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from promptrails import ratelimit

    def cache_down() -> None:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": _unreachable_redis()}}

    def cache_back() -> None:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                       "LOCATION": f"back-{uuid.uuid4().hex}"}}

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "promptrails.ratelimit"]

    settings.RATE_LIMIT_KEY_PER_MINUTE = 1
    monkeypatch.setattr(ratelimit, "OUTAGE_RETRY_SECONDS", 0.0)  # ask the cache every time
    cache_down()
    with caplog.at_level(logging.WARNING, logger="promptrails.ratelimit"):
        for _ in range(3):  # not 500, and not limited either: nothing can count them
            assert tenant.client.get(LIST).status_code == 200
        login = Client(REMOTE_ADDR="10.1.2.3").post("/admin/login/",
                                                    {"username": "x", "password": "y"})
        assert login.status_code == 200
        assert len(warnings()) == 1 and "rate limits not enforced" in warnings()[0], warnings()
        # the cache back: counted (and limited) again, and the log says so
        cache_back()
        assert tenant.client.get(LIST).status_code == 200
        assert_error(tenant.client.get(LIST), 429, "rate_limited")
        assert len(warnings()) == 2 and "enforced again" in warnings()[1], warnings()
        # after a failure the cache is left alone for OUTAGE_RETRY_SECONDS: not counted
        monkeypatch.setattr(ratelimit, "OUTAGE_RETRY_SECONDS", 60.0)
        cache_down()
        assert tenant.client.get(LIST).status_code == 200
        cache_back()
        assert [tenant.client.get(LIST).status_code for _ in range(2)] == [200, 200]


@pytest.fixture
def redis_down_server(django_db_setup: None, tmp_path: Path) -> Iterator[LiveServer]:
    from django.db import connection

    server = start_server(dict(connection.settings_dict), tmp_path, ready_status=503,
                          REDIS_URL=_unreachable_redis())
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_requests_are_served_and_healthz_says_503(
    redis_down_server: LiveServer,
) -> None:
    ensure_local_model()
    tenant = make_tenant(f"redis-down-{uuid.uuid4().hex[:6]}")
    agent = demo_agent_ensure(workspace=tenant.workspace)
    with httpx.Client(base_url=redis_down_server.url, timeout=30,
                      headers={"X-API-Key": tenant.raw_key}) as http:
        health = http.get("/healthz")
        assert health.status_code == 503 and health.json()["channel_layer"] == "down"
        assert health.json()["database"] == "ok"
        assert http.get(LIST).status_code == 200
        created = http.post("/api/v1/chat/sessions", json={"agent_id": agent.id})
        assert created.status_code == 201, created.text
        session_id = created.json()["data"]["id"]
        sent = http.post(f"/api/v1/chat/sessions/{session_id}/messages",
                         json={"content": "what is 6*7?"})
        assert sent.status_code == 201, sent.text
        assert "42" in sent.json()["data"]["content"]
        assert http.get(f"/api/v1/chat/sessions/{session_id}/messages").status_code == 200
    log = redis_down_server.log()
    assert log.count("rate limits not enforced") == 1, log[-3000:]


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "client"), [
    ([], "10.0.0.7", "", "10.0.0.7"),
    ([], "10.0.0.7", "1.2.3.4", "10.0.0.7"),  # an untrusted peer's header is ignored
    # the server took the peer from the header (uvicorn's default for loopback peers)
    ([], "1.2.3.4", "1.2.3.4", "forwarded"),
    ([], "1.2.3.4", "5.6.7.8, 1.2.3.4:9000", "forwarded"),
    (["127.0.0.1"], "10.0.0.7", "1.2.3.4", "10.0.0.7"),
    (["127.0.0.1"], "127.0.0.1", "1.2.3.4", "1.2.3.4"),
    # the right-most address no trusted proxy wrote: what the client itself sent is ignored
    (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", "6.6.6.6, 1.2.3.4, 10.1.1.1", "1.2.3.4"),
    (["127.0.0.1"], "127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
    (["127.0.0.1"], "127.0.0.1", "10.1.1.1, 127.0.0.1", "10.1.1.1"),
    (["::1"], "::1", "127.0.0.1, ::1", "127.0.0.1"),
])
def test_client_address_believes_only_trusted_proxies(
    settings: Any, trusted: list[str], peer: str, forwarded: str, client: str,
) -> None:
    from promptrails.client_address import client_address

    settings.TRUSTED_PROXIES = trusted
    meta = {"REMOTE_ADDR": peer}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(meta) == client


def _login_codes(url: str, forwarded_for: list[str]) -> list[int]:
    """POST a sign-in for each X-Forwarded-For value (without a CSRF token: 403 when not
    throttled, the limiter runs first)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        return [http.post("/admin/login/", data={"username": "x", "password": "y"},
                          headers={"X-Forwarded-For": value}).status_code
                for value in forwarded_for]


def _away_from_a_minute_boundary() -> None:
    """The limits count per fixed minute: don't let a burst straddle two."""
    if time.time() % 60 > 50:
        time.sleep(60 - time.time() % 60 + 0.1)


def _addresses(count: int) -> list[str]:
    base = uuid.uuid4().int
    return [f"198.{(base >> 8) % 250}.{(base >> 16) % 250}.{i + 1}" for i in range(count)]


def test_x_forwarded_for_from_an_untrusted_peer_gets_no_fresh_budget(
    live_server_factory: Any,
) -> None:
    # uvicorn as usually started: it takes X-Forwarded-For from loopback peers (its
    # --forwarded-allow-ips default) while the application trusts no proxy
    server = live_server_factory(PROMPTRAILS_RATE_LIMIT_LOGIN_PER_MINUTE="3",
                                 FORWARDED_ALLOW_IPS="127.0.0.1,::1")
    _away_from_a_minute_boundary()
    codes = _login_codes(server.url, _addresses(5))  # a new address claimed every time
    assert 429 in codes, codes
    assert "PROMPTRAILS_TRUSTED_PROXIES" in server.log()  # the operator is told


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(
    live_server_factory: Any,
) -> None:
    server = live_server_factory(PROMPTRAILS_RATE_LIMIT_LOGIN_PER_MINUTE="3",
                                 PROMPTRAILS_TRUSTED_PROXIES="127.0.0.1",
                                 FORWARDED_ALLOW_IPS="")
    _away_from_a_minute_boundary()
    clients = _addresses(5)
    # five clients behind the proxy: one attempt each, none throttled
    assert 429 not in _login_codes(server.url, clients)
    # one client, whatever it puts in front of the address the proxy appended
    spoofed = [f"{fake}, {clients[0]}" for fake in _addresses(4)]
    assert _login_codes(server.url, spoofed)[-2:] == [429, 429]
