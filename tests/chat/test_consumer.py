"""The chat consumer in-process, with Channels' WebsocketCommunicator (no server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from agents.services import demo_agent_ensure
from chat import services
from chat.models import Message, Session
from chat.tickets import ticket_issue
from executions import runner
from promptrails.asgi import application
from promptrails.db import run_db
from promptrails.models import Membership
from tests.helpers import Tenant, make_tenant
from tests.support.live import ensure_local_model
from tests.support.wait import wait_for_async

pytestmark = pytest.mark.django_db(transaction=True)


def _setup() -> tuple[Tenant, Tenant, Session]:
    ensure_local_model()
    tenant, other = make_tenant("WS A"), make_tenant("WS B")
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = services.session_create(workspace=tenant.workspace, agent_id=agent.id,
                                      title="ws", metadata={}, user_id=None)
    return tenant, other, session


@pytest.fixture
async def world() -> tuple[Tenant, Tenant, Session]:
    return await sync_to_async(_setup)()


def comm(session_id: str, headers: list[tuple[bytes, bytes]] | None = None,
         query: str = "") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/api/v1/chat/sessions/{session_id}/ws{query}",
                                 headers=headers or [])


def key(tenant: Tenant) -> list[tuple[bytes, bytes]]:
    return [(b"x-api-key", tenant.raw_key.encode())]


async def refused_with(communicator: WebsocketCommunicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # accepted only to deliver the close code; nothing else is sent
    output = await communicator.receive_output(5)
    assert output["type"] == "websocket.close", output
    return int(output["code"])


async def frames_until(communicator: WebsocketCommunicator,
                       stop: Callable[[dict[str, Any]], bool],
                       timeout: float = 10) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout)
        frames.append(frame)
        if stop(frame):
            return frames


def is_terminal(frame: dict[str, Any]) -> bool:
    return frame["type"] in ("done", "error") and "seq" in frame


async def connected(session: Session, tenant: Tenant, query: str = "") -> WebsocketCommunicator:
    communicator = comm(session.id, key(tenant), query)
    ok, _ = await communicator.connect()
    assert ok
    return communicator


async def test_close_codes(world: Any) -> None:
    tenant, other, session = world
    assert await refused_with(comm(session.id)) == 4401
    assert await refused_with(comm(session.id, [(b"x-api-key", b"pr_live_bad")])) == 4401
    assert await refused_with(comm("3MnUJzBfRLd3cQtsdrNY6dh9909", key(tenant))) == 4404
    assert await refused_with(comm(session.id, key(other))) == 4404  # isolation


async def test_ticket_auth_is_single_use_and_bound_to_the_session(world: Any) -> None:
    tenant, other, session = world
    ticket, _ = await run_db(ticket_issue, workspace_id=tenant.workspace.id,
                             session_id=session.id, user_id=None)
    communicator = comm(session.id, query=f"?ticket={ticket}")
    ok, _ = await communicator.connect()
    assert ok
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(5) == {"type": "pong"}
    await communicator.disconnect()
    assert await refused_with(comm(session.id, query=f"?ticket={ticket}")) == 4401
    elsewhere, _ = await run_db(ticket_issue, workspace_id=tenant.workspace.id,
                                session_id="3MnUJzBfRLd3cQtsdrNY6dh9909", user_id=None)
    assert await refused_with(comm(session.id, query=f"?ticket={elsewhere}")) == 4401


def _login_cookie(workspace_id: str) -> str:
    user = get_user_model().objects.create_user("wsuser", password="pw-12345678")
    Membership.objects.create(user=user, workspace_id=workspace_id)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_cookie_auth_needs_our_origin(world: Any) -> None:
    tenant, _, session = world
    cookie = await sync_to_async(_login_cookie)(tenant.workspace.id)
    cookie_header = (b"cookie", f"sessionid={cookie}".encode())
    host = (b"host", b"localhost:8000")
    good = comm(session.id, [cookie_header, host, (b"origin", b"http://localhost:8000")])
    ok, _ = await good.connect()
    assert ok
    await good.send_json_to({"type": "ping"})
    assert await good.receive_json_from(5) == {"type": "pong"}
    await good.disconnect()
    assert await refused_with(comm(session.id, [cookie_header, host])) == 4401
    assert await refused_with(
        comm(session.id, [cookie_header, host, (b"origin", b"https://evil.example")])) == 4401


def _cookie_socket(session_id: str, cookie: str, origin: str, host: str = "localhost:8000",
                   scheme: str = "ws") -> WebsocketCommunicator:
    communicator = comm(session_id, [(b"cookie", f"sessionid={cookie}".encode()),
                                     (b"host", host.encode()), (b"origin", origin.encode())])
    communicator.scope["scheme"] = scheme
    return communicator


async def _opens(communicator: WebsocketCommunicator) -> bool:
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "ping"})
    output = await communicator.receive_output(5)  # the pong, or the refusal's close
    await communicator.disconnect()
    return bool(output["type"] == "websocket.send")


async def test_cookie_origin_must_match_scheme_host_and_port(world: Any, settings: Any) -> None:
    tenant, _, session = world
    cookie = await sync_to_async(_login_cookie)(tenant.workspace.id)

    async def opens(origin: str, **kwargs: str) -> bool:
        return await _opens(_cookie_socket(session.id, cookie, origin, **kwargs))

    assert await opens("http://localhost:8000")
    # a page on another port or scheme of an allowed host is another origin
    assert not await opens("http://localhost:31337")
    assert not await opens("http://127.0.0.1:9999")
    assert not await opens("https://localhost:8000")
    assert not await opens("http://localhost")
    assert not await opens("http://localhost:8000.evil.example")
    assert not await opens("null")
    # wss (or https as a TLS proxy says) is the https origin, default port implied
    assert await opens("https://localhost", host="localhost", scheme="wss")
    assert not await opens("http://localhost", host="localhost", scheme="wss")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_proxy = _cookie_socket(session.id, cookie, "https://localhost", host="localhost")
    behind_proxy.scope["headers"].append((b"x-forwarded-proto", b"https"))
    assert await _opens(behind_proxy)
    # a Host outside ALLOWED_HOSTS is no origin of ours, whatever the Origin says
    assert not await opens("http://evil.example:8000", host="evil.example:8000")
    # CSRF_TRUSTED_ORIGINS: exact, or a scheme's subdomains
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com", "https://*.example.org"]
    assert await opens("https://chat.example.com")
    assert not await opens("http://chat.example.com")
    assert not await opens("https://chat.example.com:8443")
    assert await opens("https://app.example.org")
    assert not await opens("http://app.example.org")


async def test_message_events_done_and_broadcast(world: Any) -> None:
    tenant, _, session = world
    first, second = await connected(session, tenant), await connected(session, tenant)
    await first.send_json_to({"type": "message", "content": "what is 6*7?"})
    for communicator in (first, second):
        frames = await frames_until(communicator, is_terminal)
        events = [f for f in frames if "seq" in f]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events][:3] == ["execution", "tool_start", "tool_end"]
        assert events[-1]["type"] == "done" and "42" in events[-1]["output"]["content"]
    await first.disconnect()
    await second.disconnect()


async def test_rest_started_turn_is_seen(world: Any) -> None:
    tenant, _, session = world
    communicator = await connected(session, tenant)
    turn = await run_db(services.turn_start, workspace=tenant.workspace, session_id=session.id,
                        content="from elsewhere")
    assert turn.spec is not None
    local = runner.start(turn.spec)  # what the REST view does
    frames = await frames_until(communicator, is_terminal)
    await local.done.wait()
    assert frames[-1]["type"] == "done" and frames[-1]["execution_id"] == turn.execution_id
    stored = await run_db(lambda: Message.objects.get(execution_id=turn.execution_id,
                                                      role="assistant").content)
    assert "".join(f["content"] for f in frames if f["type"] == "content") == stored
    await communicator.disconnect()


async def _slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTRAILS_LOCAL_MODEL_DELAY", "0.02")


async def test_cancel_and_busy(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await _slow(monkeypatch)
    tenant, _, session = world
    communicator = await connected(session, tenant)
    await communicator.send_json_to({"type": "message", "content": " ".join(["w"] * 60)})
    frames = await frames_until(communicator, lambda f: f["type"] == "content")
    await communicator.send_json_to({"type": "message", "content": "again"})
    busy = await frames_until(communicator, lambda f: f["type"] == "error" and "code" in f)
    assert busy[-1]["code"] == "session_busy"
    await communicator.send_json_to({"type": "cancel", "execution_id": frames[-1]["execution_id"]})
    end = (await frames_until(communicator, is_terminal))[-1]
    assert end["type"] == "error" and end["message"] == "cancelled"
    await communicator.disconnect()


async def test_malformed_frames(world: Any) -> None:
    tenant, _, session = world
    communicator = await connected(session, tenant)
    for raw, code in [("{", "invalid_frame"), ('"text"', "invalid_frame"),
                      ('{"type": 1}', "invalid_frame"), ('{"type": "message"}', "validation_error"),
                      ("x" * 300_000, "payload_too_large")]:
        await communicator.send_to(text_data=raw)
        frame = await communicator.receive_json_from(5)
        assert frame["type"] == "error" and frame["code"] == code
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(5) == {"type": "pong"}
    await communicator.disconnect()


async def test_reconnect_mid_turn_replays_once(world: Any, monkeypatch: pytest.MonkeyPatch,
                                               ) -> None:
    await _slow(monkeypatch)
    tenant, _, session = world
    first = await connected(session, tenant)
    await first.send_json_to({"type": "message", "content": " ".join(["w"] * 40)})
    seen = await frames_until(first, lambda f: f.get("seq", 0) >= 5)
    execution_id = seen[-1]["execution_id"]
    await first.disconnect()
    again = await connected(session, tenant, f"?execution_id={execution_id}&after_seq=5")
    rest = [f for f in await frames_until(again, is_terminal) if "seq" in f]
    assert [f["seq"] for f in rest] == list(range(6, 6 + len(rest)))
    await again.disconnect()


def _session_subscribers(session_id: str) -> int:
    """This process's subscribers of the session's bus group (the in-memory side)."""
    from executions import bus

    return len(bus._local.get(bus.session_group(session_id), ()))


async def _redis_group_subscribers(session_id: str) -> int | None:
    """Redis subscriptions of the session's group channel (None without Redis)."""
    from channels.layers import get_channel_layer
    from django.conf import settings

    from executions import bus

    if not settings.REDIS_URL:
        return None
    import redis.asyncio as redis

    layer = get_channel_layer()
    name = f"{layer.prefix}__group__{bus.session_group(session_id)}"  # channels-redis pubsub
    client = redis.from_url(settings.REDIS_URL)
    try:
        return int(dict(await client.pubsub_numsub(name))[name.encode()])
    finally:
        await client.aclose()


async def _no_subscription_left(session_id: str) -> None:
    async def none_left() -> bool:
        return _session_subscribers(session_id) == 0 and not await _redis_group_subscribers(
            session_id)

    try:
        await wait_for_async(none_left, 5, 0.05, what="no subscription left")
    except AssertionError:
        raise AssertionError(f"subscriptions left: {_session_subscribers(session_id)} here, "
                             f"{await _redis_group_subscribers(session_id)} in Redis") from None


async def test_deep_frame_is_an_error_and_the_socket_lives_on(world: Any) -> None:
    tenant, _, session = world
    communicator = await connected(session, tenant)
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(5) == {"type": "pong"}
    assert _session_subscribers(session.id) == 1
    if await _redis_group_subscribers(session.id) is not None:
        assert await _redis_group_subscribers(session.id) == 1
    for raw in ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000,
                '{"type": "message", "content": "x", "extra": ' + "[" * 40 + "]" * 40 + "}"]:
        await communicator.send_to(text_data=raw)
        frame = await communicator.receive_json_from(5)
        assert frame["type"] == "error" and frame["code"] == "invalid_frame", frame
        assert "nest" in frame["message"]
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(5) == {"type": "pong"}
    await communicator.disconnect()
    await _no_subscription_left(session.id)


async def test_text_the_database_cannot_store_is_a_validation_error(world: Any) -> None:
    tenant, _, session = world
    communicator = await connected(session, tenant)
    await communicator.send_to(text_data='{"type": "message", "content": "a\x00b"}')
    frame = await communicator.receive_json_from(5)  # a raw control character: not JSON
    assert frame["type"] == "error" and frame["code"] == "invalid_frame", frame
    for raw, field in [('{"type": "message", "content": "a\\u0000b"}', "content"),
                       ('{"type": "message", "content": "lone \\ud800"}', "content"),
                       ('{"type": "cancel", "execution_id": "x\\u0000"}', "execution_id"),
                       ('{"type": "message", "content": "hi", "n": NaN}', "n")]:
        await communicator.send_to(text_data=raw)
        frame = await communicator.receive_json_from(5)
        assert frame["type"] == "error" and frame["code"] == "validation_error", (raw, frame)
        assert field in frame["details"], (raw, frame)
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(5) == {"type": "pong"}
    await communicator.disconnect()
    assert not await run_db(lambda: Message.objects.filter(session_id=session.id).exists())


async def test_a_handler_that_fails_still_ends_the_subscription(
    world: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chat.consumers import ChatConsumer

    tenant, _, session = world
    communicator = await connected(session, tenant)
    assert _session_subscribers(session.id) == 1

    async def broken(self: Any, text_data: Any = None, bytes_data: Any = None) -> None:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(ChatConsumer, "receive", broken)
    await communicator.send_to(text_data="{}")
    with pytest.raises(RuntimeError, match="a bug in a handler"):
        await communicator.receive_output(5)  # the consumer died of it
    await _no_subscription_left(session.id)


async def test_a_path_with_nul_is_4404(world: Any) -> None:
    tenant, _, session = world
    assert await refused_with(comm(f"{session.id}\x00", key(tenant))) == 4404
    assert await refused_with(comm("\x00", key(tenant))) == 4404


async def test_a_workspace_header_with_nul_is_4401(world: Any) -> None:
    tenant, _, session = world
    cookie = await sync_to_async(_login_cookie)(tenant.workspace.id)
    communicator = _cookie_socket(session.id, cookie, "http://localhost:8000")
    communicator.scope["headers"].append((b"x-workspace-id", b"ab\x00"))
    assert await refused_with(communicator) == 4401


def _revoke(key_id: str) -> int:
    from promptrails.models import ApiKey
    from promptrails.services import api_key_revoke

    return api_key_revoke(keys=ApiKey.objects.filter(pk=key_id))


def _key_id(tenant: Tenant) -> str:
    from promptrails.models import ApiKey, hash_api_key

    return str(ApiKey.objects.get(key_hash=hash_api_key(tenant.raw_key)).pk)


async def test_revoking_a_key_closes_its_sockets_and_refuses_its_tickets(world: Any) -> None:
    tenant, _, session = world
    key_id = await run_db(_key_id, tenant)

    def ws_ticket() -> str:  # as a browser's backend gets one, with the key
        response = tenant.client.post(f"/api/v1/chat/sessions/{session.id}/ws-ticket")
        assert response.status_code == 201, response.content
        return str(response.json()["data"]["ticket"])

    by_key = await connected(session, tenant)
    by_ticket_comm = comm(session.id, query=f"?ticket={await sync_to_async(ws_ticket)()}")
    assert (await by_ticket_comm.connect())[0]
    unused = await sync_to_async(ws_ticket)()
    other_key_tenant = await run_db(make_tenant, "WS other key")
    for communicator in (by_key, by_ticket_comm):
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(5) == {"type": "pong"}

    assert await run_db(_revoke, key_id) == 1
    for communicator in (by_key, by_ticket_comm):
        output = await communicator.receive_output(5)
        assert output == {"type": "websocket.close", "code": 4401}
        await communicator.disconnect()  # what the server tells the consumer next
    assert await refused_with(comm(session.id, query=f"?ticket={unused}")) == 4401
    assert await refused_with(comm(session.id, key(tenant))) == 4401
    # other keys' sockets are not touched
    assert await run_db(_revoke, key_id) == 0
    other = await connected(await run_db(
        lambda: services.session_create(workspace=other_key_tenant.workspace,
                                        agent_id=demo_agent_ensure(
                                            workspace=other_key_tenant.workspace).id,
                                        title="o", metadata={}, user_id=None)),
        other_key_tenant)
    await other.send_json_to({"type": "ping"})
    assert await other.receive_json_from(5) == {"type": "pong"}
    await other.disconnect()
    await _no_subscription_left(session.id)


async def test_a_key_revoked_without_announcement_is_noticed_on_recheck(
    world: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.utils import timezone

    from promptrails.models import ApiKey

    monkeypatch.setattr("chat.consumers.AUTH_RECHECK_SECONDS", 0.2)
    tenant, _, session = world
    key_id = await run_db(_key_id, tenant)
    communicator = await connected(session, tenant)
    # revoked behind the service's back (raw update): no bus message, found on the re-check
    await run_db(lambda: ApiKey.objects.filter(pk=key_id).update(revoked_at=timezone.now()))
    output = await communicator.receive_output(5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()
    await _no_subscription_left(session.id)


async def test_the_admins_revoke_action_closes_the_keys_sockets(world: Any) -> None:
    tenant, _, session = world
    key_id = await run_db(_key_id, tenant)
    communicator = await connected(session, tenant)

    def revoke_in_the_admin() -> None:  # a sync view in a thread, as under ASGI
        admin = Client()
        admin.force_login(get_user_model().objects.create_superuser("root", password="pw-1234"))
        response = admin.post("/admin/promptrails/apikey/",
                              {"action": "revoke", "_selected_action": [key_id]})
        assert response.status_code == 302, response.content

    await sync_to_async(revoke_in_the_admin)()
    output = await communicator.receive_output(5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()
    await _no_subscription_left(session.id)
