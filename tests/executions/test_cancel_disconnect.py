"""Cancel mid-stream, and a client that goes away mid-stream (the run goes on)."""

from __future__ import annotations

import httpx

from chat.models import Message, Session
from executions.models import Execution
from tests.chat.support import SSEReader, events_of, follow_execution, headers, parse_frames
from tests.helpers import assert_error
from tests.support.live import LiveTenant
from tests.support.wait import wait_for

LONG = " ".join(f"w{i}" for i in range(60))  # ~65 words at 30 ms: about 2 s


def test_cancel_mid_stream(slow_tenant: LiveTenant) -> None:
    url, key = slow_tenant.server.url, slow_tenant.tenant.raw_key
    session = slow_tenant.sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    frames = []
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{url}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": LONG},
    ) as response:
        cancelled = False
        for frame in SSEReader(response):
            if frame.comment:
                continue
            frames.append(frame)
            if len([f for f in frames if f.event == "content"]) == 3 and not cancelled:
                execution_id = frames[0].data["execution_id"]
                user = Message.objects.get(session_id=session.id, role="user")
                stored_session = Session.objects.get(pk=session.id)
                assert stored_session.updated_at >= user.created_at
                reply = client.post(f"{url}/api/v1/executions/{execution_id}/cancel",
                                    headers={"X-API-Key": key})
                assert reply.status_code == 200, reply.text
                data = reply.json()["data"]
                assert data["id"] == execution_id
                assert data["status"] in ("cancel_requested", "cancelled")
                cancelled = True
    assert cancelled
    last = frames[-1]
    assert last.event == "error" and last.data["message"] == last.data["error"] == "cancelled"
    assert [f.event for f in frames].count("error") == 1 and "done" not in [f.event for f in frames]
    streamed = "".join(f.data["content"] for f in frames if f.event == "content")

    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "cancelled" and execution.error == "cancelled"
    partial = Message.objects.get(session_id=session.id, role="assistant")
    assert partial.metadata["incomplete"] is True and partial.execution_id == execution_id
    assert streamed.startswith(partial.content) or partial.content.startswith(streamed)
    assert 0 < len(partial.content) < 200 and partial.content.startswith("Turn 1.")

    again = httpx.post(f"{url}/api/v1/executions/{execution_id}/cancel",
                       headers={"X-API-Key": key})
    assert_error(again, 400, "validation_error")
    # the session is free: a new turn runs, with the partial reply in its history
    reply = slow_tenant.sdk.chat.send_message(session.id, content="still there?").content
    assert reply.startswith("Turn 2.")


def test_cancel_is_isolated_and_404_for_unknown(slow_tenant: LiveTenant) -> None:
    from tests.helpers import make_tenant

    url = slow_tenant.server.url
    other = make_tenant("Live B")
    session = slow_tenant.sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{url}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(slow_tenant.tenant.raw_key), json={"content": "short"},
    ) as response:
        reader = iter(SSEReader(response))
        first = next(reader)
        execution_id = first.data["execution_id"]
        assert_error(client.post(f"{url}/api/v1/executions/{execution_id}/cancel",
                                 headers={"X-API-Key": other.raw_key}), 404, "not_found")
        assert_error(client.post(f"{url}/api/v1/executions/nope/cancel",
                                 headers={"X-API-Key": slow_tenant.tenant.raw_key}),
                     404, "not_found")
        rest = [f for f in reader if not f.comment]
    assert rest[-1].event == "done"
    assert Execution.objects.get(pk=execution_id).status == "completed"


def test_disconnect_mid_stream_loses_nothing(slow_tenant: LiveTenant) -> None:
    url, key = slow_tenant.server.url, slow_tenant.tenant.raw_key
    session = slow_tenant.sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    seen = []
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{url}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": LONG},
    ) as response:
        for frame in SSEReader(response):
            if not frame.comment:
                seen.append({"seq": frame.id, **frame.data})
            if len([e for e in seen if e["type"] == "content"]) == 3:
                break  # leaving the block closes the connection mid-stream
    execution_id = seen[0]["execution_id"]

    _, body = follow_execution(url, key, execution_id)
    full = events_of(parse_frames(body.decode()))
    assert full[: len(seen)] == seen
    assert full[-1]["type"] == "done"
    content = "".join(e["content"] for e in full if e["type"] == "content")
    assert content.startswith('Turn 1. You said: "w0 w1 w2') and content.endswith('"')
    assert len(content) > 200
    reply = wait_for(lambda: Message.objects.filter(session_id=session.id,
                                                    role="assistant").first())
    assert reply.content == content and reply.metadata == {}
    assert Execution.objects.get(pk=execution_id).status == "completed"
