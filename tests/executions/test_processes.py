"""Across server processes: following from another process, and a process that dies mid-turn."""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
import pytest

from chat.models import Message, Session
from executions.models import Execution, ExecutionEvent
from executions.services import executions_recover_stale
from tests.chat.conftest import LiveTenant, make_live_tenant
from tests.chat.support import (
    SSEReader,
    events_of,
    follow_execution,
    headers,
    parse_frames,
    wait_for,
)
from tests.live import LiveServer

LONG = " ".join(f"w{i}" for i in range(50))


def test_follow_from_another_process(slow_tenant: LiveTenant, asgi_server: LiveServer) -> None:
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL: the in-memory channel layer cannot be shared by processes")
    a, b, key = slow_tenant.server.url, asgi_server.url, slow_tenant.tenant.raw_key
    session = slow_tenant.sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    on_a: list[dict[str, Any]] = []
    on_b: dict[str, list[dict[str, Any]]] = {}
    threads: list[threading.Thread] = []

    def follow_on_b(name: str, execution_id: str, after: int | None) -> None:
        _, body = follow_execution(b, key, execution_id, last_event_id=after)
        on_b[name] = events_of(parse_frames(body.decode()))

    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{a}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": LONG},
    ) as response:
        for frame in SSEReader(response):
            if frame.comment:
                continue
            on_a.append({"seq": frame.id, **frame.data})
            execution_id = on_a[0]["execution_id"]
            if len(on_a) == 1:
                threads.append(threading.Thread(target=follow_on_b,
                                                args=("start", execution_id, 0)))
                threads[-1].start()
            if len(on_a) == 6:
                threads.append(threading.Thread(target=follow_on_b,
                                                args=("middle", execution_id, 4)))
                threads[-1].start()
    for thread in threads:
        thread.join(30)
    assert on_a[-1]["type"] == "done" and len(on_a) > 20
    assert on_b["start"] == on_a
    assert on_b["middle"] == on_a[4:]


@pytest.fixture
def crash_server(live_server_factory: Any, transactional_db: None) -> LiveServer:
    return live_server_factory(PROMPTRAILS_LOCAL_MODEL_DELAY="0.05",
                               PROMPTRAILS_TURN_LEASE_SECONDS="2")


def test_a_process_that_dies_mid_turn_loses_nothing(crash_server: LiveServer,
                                                    asgi_server: LiveServer,
                                                    settings: Any) -> None:
    tenant = make_live_tenant(crash_server, "Crash A")
    key = tenant.tenant.raw_key
    session = tenant.sdk.chat.create_session(agent_id=tenant.agent_id)
    seen: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{crash_server.url}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": LONG},
    ) as response:
        for frame in SSEReader(response):
            if not frame.comment:
                seen.append({"seq": frame.id, **frame.data})
            if len([e for e in seen if e["type"] == "content"]) == 4:
                break
        execution_id = seen[0]["execution_id"]
        wait_for(lambda: ExecutionEvent.objects.filter(execution_id=execution_id,
                                                       type="content").exists(),
                 what="content in the event log")
        crash_server.kill()
    assert Execution.objects.get(pk=execution_id).status == "running"

    settings.TURN_LEASE_SECONDS = 2
    wait_for(lambda: executions_recover_stale() or
             Execution.objects.get(pk=execution_id).status != "running",
             timeout=20, interval=0.2, what="recovery of the stale execution")

    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "failed" and execution.error == "interrupted"
    partial = Message.objects.get(session_id=session.id, role="assistant")
    assert partial.metadata["incomplete"] is True and partial.execution_id == execution_id
    streamed = "".join(e["content"] for e in seen if e["type"] == "content")
    assert partial.content and (partial.content.startswith(streamed)
                                or streamed.startswith(partial.content))
    assert execution.output == {"content": partial.content, "incomplete": True}
    stored = Session.objects.get(pk=session.id)
    assert stored.turn_execution_id is None and stored.updated_at >= partial.created_at

    # its stream (from any process) replays what was logged and ends with the error
    _, body = follow_execution(asgi_server.url, key, execution_id)
    replay = events_of(parse_frames(body.decode()))
    assert replay[-1]["type"] == "error" and replay[-1]["message"] == "interrupted"
    assert [e["seq"] for e in replay] == list(range(1, len(replay) + 1))

    # and the session takes a new message on a live server
    response = httpx.post(f"{asgi_server.url}/api/v1/chat/sessions/{session.id}/messages",
                          headers=headers(key), json={"content": "are you back?"}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["content"].startswith("Turn 2.")
    roles = list(Message.objects.filter(session_id=session.id).values_list("role", flat=True))
    assert roles == ["user", "assistant", "user", "assistant"]
