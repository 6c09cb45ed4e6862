"""The chat WebSocket against a live ASGI server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import make_tenant
from tests.support.live import LiveTenant
from tests.support.wait import wait_for_async


def ws_url(live: LiveTenant, session_id: str, query: str = "") -> str:
    base = live.server.url.replace("http://", "ws://")
    return f"{base}/api/v1/chat/sessions/{session_id}/ws{query}"


def headers(live: LiveTenant) -> dict[str, str]:
    return {"X-API-Key": live.tenant.raw_key}


async def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws: ClientConnection, predicate: Any, timeout: float = 15) -> list[dict]:
    """Frames received up to and including the first one matching predicate."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = await recv(ws, timeout)
        frames.append(frame)
        if predicate(frame):
            return frames


async def turn_frames(ws: ClientConnection) -> list[dict[str, Any]]:
    """Frames until both the terminal event and the stored assistant message have arrived."""
    frames: list[dict[str, Any]] = []
    while not (any(terminal(f) for f in frames) and any(
            f["type"] == "message" and f["message"]["role"] == "assistant" for f in frames)):
        frames.append(await recv(ws, 15))
    return frames


def terminal(frame: dict[str, Any]) -> bool:
    return frame["type"] in ("done", "error") and "seq" in frame


async def close_code(url: str, **kwargs: Any) -> int | None:
    async with connect(url, **kwargs) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code


def new_session(live: LiveTenant) -> str:
    return str(live.sdk.chat.create_session(agent_id=live.agent_id, title="ws").id)


async def test_auth_failures_close_4401_and_4404(live_tenant: LiveTenant) -> None:
    session_id = new_session(live_tenant)
    assert await close_code(ws_url(live_tenant, session_id)) == 4401
    assert await close_code(ws_url(live_tenant, session_id),
                            additional_headers={"X-API-Key": "pr_live_wrong"}) == 4401
    assert await close_code(ws_url(live_tenant, session_id, "?ticket=forged")) == 4401
    assert await close_code(ws_url(live_tenant, "3MnUJzBfRLd3cQtsdrNY6dh9909"),
                            additional_headers=headers(live_tenant)) == 4404


async def test_another_workspaces_session_is_4404(live_tenant: LiveTenant) -> None:
    session_id = new_session(live_tenant)
    from asgiref.sync import sync_to_async

    other = await sync_to_async(make_tenant)("Other WS")
    assert await close_code(ws_url(live_tenant, session_id),
                            additional_headers={"X-API-Key": other.raw_key}) == 4404


async def test_message_turn_streams_events_and_messages(live_tenant: LiveTenant) -> None:
    session_id = new_session(live_tenant)
    async with connect(ws_url(live_tenant, session_id),
                       additional_headers=headers(live_tenant)) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"
        await ws.send(json.dumps({"type": "message", "content": "what is 6*7?"}))
        frames = await turn_frames(ws)
    events = [f for f in frames if "seq" in f]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "execution"
    assert {e["execution_id"] for e in events} == {events[0]["execution_id"]}
    types = [e["type"] for e in events]
    assert "tool_start" in types and "tool_end" in types and types[-1] == "done"
    content = "".join(e["content"] for e in events if e["type"] == "content")
    messages = [f["message"] for f in frames if f["type"] == "message"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "what is 6*7?"
    assert messages[1]["content"] == content and "42" in content


async def test_malformed_frames_get_errors_and_socket_stays_usable(
    live_tenant: LiveTenant,
) -> None:
    session_id = new_session(live_tenant)
    async with connect(ws_url(live_tenant, session_id),
                       additional_headers=headers(live_tenant)) as ws:
        for bad, code in [("not json", "invalid_frame"), ("[1, 2]", "invalid_frame"),
                          ('{"type": "dance"}', "invalid_frame"),
                          ('{"type": "message"}', "validation_error"),
                          ('{"type": "message", "content": "  "}', "validation_error"),
                          ('{"type": "message", "content": 5}', "validation_error"),
                          ('{"type": "cancel"}', "validation_error"),
                          ('{"type": "cancel", "execution_id": "nope"}', "not_found"),
                          (json.dumps({"type": "message", "content": "x" * 300_000}),
                           "payload_too_large")]:
            await ws.send(bad)
            frame = await recv(ws)
            assert frame["type"] == "error" and frame["code"] == code, (bad[:40], frame)
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"


async def test_rest_send_is_seen_by_every_socket(live_tenant: LiveTenant) -> None:
    session_id = new_session(live_tenant)
    url = ws_url(live_tenant, session_id)
    async with connect(url, additional_headers=headers(live_tenant)) as first, \
            connect(url, additional_headers=headers(live_tenant)) as second:
        for ws in (first, second):  # a pong: the server has subscribed this socket (it
            await ws.send(json.dumps({"type": "ping"}))  # handles frames after connecting)
            assert (await recv(ws))["type"] == "pong"
        async with httpx.AsyncClient(base_url=live_tenant.server.url,
                                     headers=headers(live_tenant)) as client:
            response = await client.post(f"/api/v1/chat/sessions/{session_id}/messages",
                                         json={"content": "hello sockets"}, timeout=30)
        assert response.status_code == 201
        reply = response.json()["data"]["content"]
        for ws in (first, second):
            frames = await turn_frames(ws)
            events = [f for f in frames if "seq" in f]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert "".join(e["content"] for e in events if e["type"] == "content") == reply


async def test_busy_session_answers_error_frame(live_factory_slow: LiveTenant) -> None:
    live = live_factory_slow
    session_id = new_session(live)
    async with connect(ws_url(live, session_id), additional_headers=headers(live)) as ws:
        await ws.send(json.dumps({"type": "message", "content": "a long answer please"}))
        await until(ws, lambda f: f["type"] == "content")
        await ws.send(json.dumps({"type": "message", "content": "and another"}))
        frames = await until(ws, lambda f: f["type"] == "error" and "code" in f)
        assert frames[-1]["code"] == "session_busy"
        await until(ws, terminal)


async def test_reconnect_mid_turn_replays_without_gaps(live_factory_slow: LiveTenant) -> None:
    live = live_factory_slow
    session_id = new_session(live)
    url = ws_url(live, session_id)
    async with connect(url, additional_headers=headers(live)) as ws:
        await ws.send(json.dumps({"type": "message", "content": "tell me a long story now"}))
        early = await until(ws, lambda f: f.get("seq", 0) >= 4)
        execution_id = early[-1]["execution_id"]
    # a fresh socket while the turn runs: everything from seq 1, once each
    async with connect(url, additional_headers=headers(live)) as ws:
        frames = [f for f in await until(ws, terminal) if "seq" in f]
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
        assert frames[0]["type"] == "execution" and frames[-1]["type"] == "done"
    # the client may skip what it has
    async with connect(url + f"?execution_id={execution_id}&after_seq=3",
                       additional_headers=headers(live)) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"


async def test_cancel_frame_stops_the_turn(live_factory_slow: LiveTenant) -> None:
    live = live_factory_slow
    session_id = new_session(live)
    async with connect(ws_url(live, session_id), additional_headers=headers(live)) as ws:
        await ws.send(json.dumps({"type": "message", "content": "a long answer please"}))
        frames = await until(ws, lambda f: f["type"] == "content")
        await ws.send(json.dumps({"type": "cancel", "execution_id": frames[-1]["execution_id"]}))
        end = (await until(ws, terminal))[-1]
        assert end["type"] == "error" and end["message"] == "cancelled"


async def test_ticket_is_single_use(live_tenant: LiveTenant) -> None:
    session_id = new_session(live_tenant)
    async with httpx.AsyncClient(base_url=live_tenant.server.url,
                                 headers=headers(live_tenant)) as client:
        response = await client.post(f"/api/v1/chat/sessions/{session_id}/ws-ticket")
        assert response.status_code == 201
        ticket = response.json()["data"]["ticket"]
        assert response.json()["data"]["expires_at"].endswith("Z")
        other = await client.post("/api/v1/chat/sessions/3MnUJzBfRLd3cQtsdrNY6dh9909/ws-ticket")
        assert other.status_code == 404
    url = ws_url(live_tenant, session_id, f"?ticket={ticket}")
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"
    assert await close_code(url) == 4401


async def redis_subscribers(group: str) -> int | None:
    """Redis subscriptions of a bus group's channel, all processes (None without Redis)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return None
    import redis.asyncio as redis

    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    prefix = layers["default"]["CONFIG"]["prefix"]
    name = f"{prefix}__group__{group}"  # channels-redis pubsub's name for a group
    client = redis.from_url(settings.REDIS_URL)
    try:
        return int(dict(await client.pubsub_numsub(name))[name.encode()])
    finally:
        await client.aclose()


async def test_deep_frames_get_error_frames_and_leave_no_subscription(
    live_tenant: LiveTenant,
) -> None:
    session_id = new_session(live_tenant)
    group = f"session.{session_id}"
    for _ in range(3):
        async with connect(ws_url(live_tenant, session_id),
                           additional_headers=headers(live_tenant)) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv(ws))["type"] == "pong"
            if await redis_subscribers(group) is not None:
                assert await redis_subscribers(group) == 1
            await ws.send("[" * 5000 + "]" * 5000)
            frame = await recv(ws)
            assert frame["type"] == "error" and frame["code"] == "invalid_frame", frame
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv(ws))["type"] == "pong"
    if await redis_subscribers(group) is not None:
        async def none_left() -> bool:
            return await redis_subscribers(group) == 0

        await wait_for_async(none_left, 5, 0.05, what="no Redis subscription left")
        assert await redis_subscribers(group) == 0


async def test_a_path_with_nul_closes_4404(live_tenant: LiveTenant) -> None:
    session_id = new_session(live_tenant)
    for path_id in (f"{session_id}%00", "%00", "a%00b"):
        assert await close_code(ws_url(live_tenant, path_id),
                                additional_headers=headers(live_tenant)) == 4404


async def test_a_key_revoked_in_another_process_closes_its_sockets(
    live_tenant: LiveTenant,
) -> None:
    from django.conf import settings

    from promptrails.db import run_db
    from promptrails.models import ApiKey, hash_api_key
    from promptrails.services import api_key_revoke

    if not settings.REDIS_URL:
        pytest.skip("processes share the bus through Redis only")
    session_id = new_session(live_tenant)
    async with connect(ws_url(live_tenant, session_id),
                       additional_headers=headers(live_tenant)) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"
        # revoked here, in the test process: the server hears it through Redis
        digest = hash_api_key(live_tenant.tenant.raw_key)
        assert await run_db(lambda: api_key_revoke(
            keys=ApiKey.objects.filter(key_hash=digest))) == 1
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4401
