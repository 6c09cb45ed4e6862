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
from tests.chat.conftest import ensure_local_model
from tests.helpers import Tenant, make_tenant

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
    good = comm(session.id, [cookie_header, (b"origin", b"http://localhost:8000")])
    ok, _ = await good.connect()
    assert ok
    await good.send_json_to({"type": "ping"})
    assert await good.receive_json_from(5) == {"type": "pong"}
    await good.disconnect()
    assert await refused_with(comm(session.id, [cookie_header])) == 4401
    assert await refused_with(
        comm(session.id, [cookie_header, (b"origin", b"https://evil.example")])) == 4401


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
