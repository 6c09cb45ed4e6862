"""SSE (docs/api.md §4): the SDK's view, the raw frames, resume, keepalive, errors before
the stream."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from chat.models import Message, Session
from tests.chat.support import (
    SSEReader,
    events_of,
    fake_openai_agent,
    follow_execution,
    headers,
    parse_frames,
    stream_send,
)
from tests.fakes.server import FakeReply
from tests.helpers import assert_error, make_tenant
from tests.sdk import events
from tests.support.live import LiveTenant
from tests.support.wait import wait_for

LONG = " ".join(f"w{i}" for i in range(40))


def test_sdk_stream_send_and_replay(live_tenant: LiveTenant) -> None:
    sdk = live_tenant.sdk
    session = sdk.chat.create_session(agent_id=live_tenant.agent_id)
    received = list(sdk.chat.send_message_stream(session.id, content="what is 6*7?"))
    assert isinstance(received[0], events.ExecutionEvent)
    execution_id = received[0].execution_id
    user = sdk.chat.list_messages(session.id).data[0]
    assert user.role == "user" and received[0].user_message_id == user.id
    kinds = [type(e).__name__ for e in received]
    assert kinds.count("DoneEvent") == 1 and kinds[-1] == "DoneEvent"
    assert "ErrorEvent" not in kinds
    start, end = kinds.index("ToolStartEvent"), kinds.index("ToolEndEvent")
    first_content = kinds.index("ContentEvent")
    assert 0 < start < end < first_content
    tool_start, tool_end = received[start], received[end]
    assert tool_start.name == tool_end.name == "calculator" and tool_start.id == tool_end.id
    content = "".join(e.content for e in received if isinstance(e, events.ContentEvent))
    assert "42" in content
    stored = sdk.chat.list_messages(session.id).data
    assert [m.role for m in stored] == ["user", "assistant"] and stored[1].content == content
    done = received[-1]
    assert done.output == {"content": content}
    assert done.token_usage.total_tokens == (done.token_usage.prompt_tokens
                                             + done.token_usage.completion_tokens) > 0
    execution = sdk.executions.get(execution_id)
    assert execution.status == "completed" and execution.output == {"content": content}

    replayed = list(sdk.executions.stream(execution_id))
    assert [type(e).__name__ for e in replayed] == kinds
    assert [getattr(e, "content", None) for e in replayed] == [
        getattr(e, "content", None) for e in received]


def test_follow_during_a_run_joins_and_completes(slow_tenant: LiveTenant) -> None:
    key, url = slow_tenant.tenant.raw_key, slow_tenant.server.url
    session = slow_tenant.sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{url}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": LONG},
    ) as response:
        reader = SSEReader(response)
        sender: list[dict[str, Any]] = []
        follower: list[dict[str, Any]] = []
        thread: threading.Thread | None = None
        for frame in reader:
            if frame.comment:
                continue
            sender.append({"seq": frame.id, **frame.data})
            contents = [e for e in sender if e["type"] == "content"]
            if len(contents) == 3 and thread is None:
                execution_id = sender[0]["execution_id"]

                def join(execution_id: str = execution_id) -> None:
                    _, body = follow_execution(url, key, execution_id)
                    follower.extend(events_of(parse_frames(body.decode())))

                thread = threading.Thread(target=join)
                thread.start()
    assert thread is not None
    thread.join(30)
    assert sender[-1]["type"] == "done"
    assert follower == sender  # joined mid-run: replay, then live, every event exactly once
    assert len([e for e in sender if e["type"] == "content"]) > 10


def test_raw_frames_follow_the_wire_format(live_tenant: LiveTenant) -> None:
    session = live_tenant.sdk.chat.create_session(agent_id=live_tenant.agent_id)
    response, body = stream_send(live_tenant.server.url, live_tenant.tenant.raw_key,
                                 session.id, "what is 6*7? then tell me a story")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    text = body.decode()
    assert "\r" not in text
    assert text.endswith("\n\n")
    assert "[DONE]" not in text
    frames = [f for f in parse_frames(text) if not f.comment]
    assert [f.id for f in frames] == list(range(1, len(frames) + 1))
    for frame in frames:
        lines = frame.raw.split("\n")
        assert lines[0] == f"id: {frame.id}" and lines[1] == f"event: {frame.event}"
        assert len(frame.data_lines) == 1 and len(lines) == 3, frame.raw
        data = frame.data
        assert data["type"] == frame.event
        assert frame.data_lines[0] == json.dumps(data, separators=(",", ":"),
                                                 ensure_ascii=False)
    types = [f.event for f in frames]
    assert types[0] == "execution" and types[-1] == "done"
    assert [t for t in types if t in ("done", "error")] == ["done"]
    assert {"tool_start", "tool_end", "content"} <= set(types)
    done = frames[-1].data
    assert set(done) >= {"type", "output", "token_usage", "time"}
    assert isinstance(done["token_usage"]["prompt_tokens"], int)


def test_last_event_id_resumes_after_that_event(live_tenant: LiveTenant) -> None:
    url, key = live_tenant.server.url, live_tenant.tenant.raw_key
    session = live_tenant.sdk.chat.create_session(agent_id=live_tenant.agent_id)
    _, body = stream_send(url, key, session.id, LONG)
    full = events_of(parse_frames(body.decode()))
    n = len(full)
    assert n > 10
    execution_id = full[0]["execution_id"]
    for after in (0, 1, n // 2, n - 1, n):
        response, resumed = follow_execution(url, key, execution_id, last_event_id=after)
        assert response.status_code == 200
        assert events_of(parse_frames(resumed.decode())) == full[after:], after
    # the query parameter works too (EventSource cannot set headers on the first request)
    with httpx.Client(timeout=30) as client:
        response = client.get(
            f"{url}/api/v1/executions/{execution_id}/stream?last_event_id={n // 2}",
            headers={"X-API-Key": key})
    assert events_of(parse_frames(response.text)) == full[n // 2:]


def test_keepalive_comments_on_an_idle_stream(slow_tenant: LiveTenant, fake_openai: Any) -> None:
    agent = fake_openai_agent(workspace=slow_tenant.tenant.workspace,
                              base_url=fake_openai.base_url)
    session = Session.objects.create(workspace=slow_tenant.tenant.workspace, agent=agent)
    fake_openai.enqueue(FakeReply(text="finally here", first_token_delay=1.2))
    response, body = stream_send(slow_tenant.server.url, slow_tenant.tenant.raw_key,
                                 session.id, "hello")
    assert response.status_code == 200
    frames = parse_frames(body.decode())
    comments = [f for f in frames if f.comment]
    assert comments and all(f.raw == ": keepalive" for f in comments)
    kinds = [f.event for f in frames if not f.comment]
    assert kinds[0] == "execution" and kinds[-1] == "done", frames[-1].data
    first_content = next(i for i, f in enumerate(frames) if f.event == "content")
    assert any(f.comment for f in frames[1:first_content])  # sent while the model was silent
    assert "".join(f.data["content"] for f in frames if f.event == "content") == "finally here"


def test_errors_before_the_stream_are_json(slow_tenant: LiveTenant) -> None:
    url, key = slow_tenant.server.url, slow_tenant.tenant.raw_key
    session = slow_tenant.sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    path = f"{url}/api/v1/chat/sessions/{session.id}/messages/stream"
    other = make_tenant("Live B")
    with httpx.Client(timeout=30) as client:
        cases = [
            (client.post(path, headers=headers("pr_live_wrong"), json={"content": "hi"}),
             401, "unauthorized"),
            (client.post(path, headers={"Content-Type": "application/json"},
                         json={"content": "hi"}), 401, "unauthorized"),
            (client.post(f"{url}/api/v1/chat/sessions/nope/messages/stream",
                         headers=headers(key), json={"content": "hi"}), 404, "not_found"),
            (client.post(path, headers=headers(other.raw_key), json={"content": "hi"}),
             404, "not_found"),
            (client.post(path, headers=headers(key), json={"content": "  "}),
             400, "validation_error"),
            (client.post(path, headers=headers(key), content=b"{nope"),
             400, "validation_error"),
            (client.get(path, headers=headers(key)), 405, "method_not_allowed"),
        ]
        for response, status, code in cases:
            assert response.headers["content-type"].startswith("application/json")
            assert_error(response, status, code)
        assert not Message.objects.filter(session_id=session.id).exists()

        with client.stream("POST", path, headers=headers(key), json={"content": LONG}) as first:
            reader = iter(SSEReader(first))
            assert next(reader).event == "execution"
            busy = client.post(path, headers=headers(key), json={"content": "me too"})
            assert_error(busy, 409, "session_busy")
            assert busy.headers["Retry-After"]
            rest = [f for f in reader if not f.comment]
        assert rest[-1].event == "done"
    assert [m.content for m in Message.objects.filter(session_id=session.id, role="user")] == [
        LONG]


def test_execution_stream_errors(live_tenant: LiveTenant) -> None:
    url, key = live_tenant.server.url, live_tenant.tenant.raw_key
    session = live_tenant.sdk.chat.create_session(agent_id=live_tenant.agent_id)
    _, body = stream_send(url, key, session.id, "hi")
    execution_id = events_of(parse_frames(body.decode()))[0]["execution_id"]
    other = make_tenant("Live B")
    with httpx.Client(timeout=10) as client:
        stream = f"{url}/api/v1/executions/{execution_id}/stream"
        assert_error(client.get(stream, headers={"X-API-Key": other.raw_key}), 404, "not_found")
        assert_error(client.get(stream), 401, "unauthorized")
        assert_error(client.get(f"{url}/api/v1/executions/nope/stream",
                                headers={"X-API-Key": key}), 404, "not_found")
        ok = client.get(stream, headers={"X-API-Key": key, "Last-Event-ID": "garbage"})
        assert ok.status_code == 200 and events_of(parse_frames(ok.text))[0]["seq"] == 1


@pytest.mark.parametrize("content", ["what time is it in Europe/Berlin?"])
def test_time_tool_events(live_tenant: LiveTenant, content: str) -> None:
    session = live_tenant.sdk.chat.create_session(agent_id=live_tenant.agent_id)
    received = list(live_tenant.sdk.chat.send_message_stream(session.id, content=content))
    starts = [e for e in received if isinstance(e, events.ToolStartEvent)]
    assert [e.name for e in starts] == ["current_time"]
    text = "".join(e.content for e in received if isinstance(e, events.ContentEvent))
    assert "Europe/Berlin" in text
    wait_for(lambda: Message.objects.filter(session_id=session.id, role="assistant").exists())
