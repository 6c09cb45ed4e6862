"""Contract tests: the official promptrails SDK (0.9.x) against a live ASGI server."""

from __future__ import annotations

import pytest

from tests.sdk import PromptRails, errors, events
from tests.support.live import LiveTenant


def test_session_lifecycle_and_history(live_tenant: LiveTenant) -> None:
    sdk = live_tenant.sdk
    session = sdk.chat.create_session(agent_id=live_tenant.agent_id, title="Support",
                                      metadata={"channel": "web", "user_id": "ext-1"})
    assert session.title == "Support" and session.metadata["channel"] == "web"
    assert sdk.chat.get_session(session.id).id == session.id
    listed = sdk.chat.list_sessions()
    assert listed.meta.total == 1 and listed.data[0].id == session.id

    replies = [sdk.chat.send_message(session.id, content=text).content
               for text in ("hello", "second message", "third one")]
    assert replies[0].startswith("Turn 1.")
    assert replies[1].startswith("Turn 2.") and '"hello"' in replies[1]
    assert replies[2].startswith("Turn 3.") and '"second message"' in replies[2]

    history = sdk.chat.list_messages(session.id)
    assert history.meta.total == 6
    assert [m.role for m in history.data] == ["user", "assistant"] * 3
    assert [m.content for m in history.data[1::2]] == replies

    executions = sdk.executions.list(session_id=session.id)
    assert len(executions.data) == 3
    first = sdk.executions.get(executions.data[-1].id)
    assert first.status == "completed" and first.session_id == session.id

    feedback = sdk.chat.submit_feedback(session.id, execution_id=first.id, value=1)
    assert feedback.submitted is True
    sdk.chat.submit_feedback(session.id, execution_id=first.id, value=-1)

    sdk.chat.delete_session(session.id)
    with pytest.raises(errors.NotFoundError):
        sdk.chat.get_session(session.id)


def test_streaming_send_and_replay(live_tenant: LiveTenant) -> None:
    sdk = live_tenant.sdk
    session = sdk.chat.create_session(agent_id=live_tenant.agent_id, title="Stream")
    received = list(sdk.chat.send_message_stream(session.id, content="what is 6*7?"))
    assert isinstance(received[0], events.ExecutionEvent)
    kinds = [type(e).__name__ for e in received]
    assert kinds.count("DoneEvent") == 1 and kinds[-1] == "DoneEvent"
    assert "ToolStartEvent" in kinds and "ToolEndEvent" in kinds
    content = "".join(e.content for e in received if isinstance(e, events.ContentEvent))
    assert "42" in content
    stored = sdk.chat.list_messages(session.id).data
    assert stored[-1].role == "assistant" and stored[-1].content == content
    assert received[-1].output == {"content": content}

    replayed = list(sdk.executions.stream(received[0].execution_id))
    assert [type(e).__name__ for e in replayed] == kinds
    assert "".join(e.content for e in replayed if isinstance(e, events.ContentEvent)) == content


def test_invalid_key_and_bad_body(live_tenant: LiveTenant) -> None:
    bad = PromptRails(api_key="pr_live_nope", base_url=live_tenant.server.url, max_retries=0)
    with pytest.raises(errors.UnauthorizedError):
        bad.chat.list_sessions()
    session = live_tenant.sdk.chat.create_session(agent_id=live_tenant.agent_id)
    with pytest.raises(errors.ValidationError):
        live_tenant.sdk.chat.send_message(session.id, content="   ")
