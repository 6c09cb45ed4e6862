"""The official SDK's traces resource against the live server, unchanged."""

from __future__ import annotations

import dataclasses

import pytest

from executions.models import Execution
from tests.sdk import errors
from tests.support.live import LiveTenant, make_live_tenant


def test_list_get_and_summary(live_tenant: LiveTenant) -> None:
    client = live_tenant.sdk
    session = client.chat.create_session(agent_id=live_tenant.agent_id)
    reply = client.chat.send_message(session.id, content="what is 6*7?")
    assert "42" in reply.content
    execution = Execution.objects.get(session_id=session.id)

    page = client.traces.list()
    assert page.meta.total == 4 and page.meta.pages == 1 and len(page.data) == 4
    assert all(t.trace_id == execution.trace_id for t in page.data)
    started = [t.started_at for t in page.data]
    assert started == sorted(started, reverse=True)

    tools = client.traces.list(kind="tool", trace_id=execution.trace_id)
    assert [t.name for t in tools.data] == ["calculator"]
    tool = tools.data[0]
    assert tool.kind == "tool" and tool.status == "ok" and tool.mcp_tool_name == "calculator"
    assert tool.output == {"result": "42", "summary": "6*7 = 42"}
    assert tool.execution_id == execution.id and tool.session_id == session.id

    spans = client.traces.get_by_trace_id(execution.trace_id)
    assert [t.kind for t in spans] == ["agent", "llm", "tool", "llm"]
    root = spans[0]
    assert root.parent_span_id == "" and len(root.span_id) == 16
    assert root.token_usage["total_tokens"] == execution.total_tokens
    assert root.total_tokens == execution.total_tokens and root.cost == execution.cost
    assert root.agent_id == live_tenant.agent_id and root.agent_name == "Demo agent"
    for span in spans[1:]:
        assert span.parent_span_id == root.span_id
        assert span.started_at.endswith("Z") and span.ended_at.endswith("Z")
    llm = spans[1]
    assert llm.model_name == "echo" and llm.prompt_tokens > 0
    assert llm.completion_start_time is not None and llm.attributes["attempts"] == 1
    # every field the server sends is one the SDK's Trace knows (nothing silently dropped
    # except this server's extensions)
    known = {f.name for f in dataclasses.fields(type(root))}
    assert {"provider", "ttft_ms"} == set(_raw(live_tenant, execution.trace_id)) - known

    summary = client.traces.get_summary()
    assert summary.total_traces == 1 and summary.total_tokens == execution.total_tokens
    assert summary.unique_models == 1 and summary.unique_sessions == 1
    assert summary.error_count == 0
    assert summary.avg_duration_ms == pytest.approx(execution.duration_ms, abs=1)
    assert client.traces.get_summary(session_id="other", status=None).total_traces == 0
    assert client.traces.get_summary(execution_id=execution.id).total_traces == 1


def _raw(live: LiveTenant, trace_id: str) -> dict[str, object]:
    import httpx

    response = httpx.get(f"{live.server.url}/api/v1/traces/{trace_id}",
                         headers={"X-API-Key": live.tenant.raw_key})
    return dict(response.json()["data"][0])


def test_errors_through_the_sdk(live_tenant: LiveTenant) -> None:
    client = live_tenant.sdk
    with pytest.raises(errors.NotFoundError):
        client.traces.get_by_trace_id("0" * 32)
    with pytest.raises(errors.ValidationError):
        client.traces.list(kind="workflow")
    other = make_live_tenant(live_tenant.server, "Live B")
    session = other.sdk.chat.create_session(agent_id=other.agent_id)
    other.sdk.chat.send_message(session.id, content="hello")
    foreign = Execution.objects.get(session_id=session.id).trace_id
    with pytest.raises(errors.NotFoundError):
        client.traces.get_by_trace_id(foreign)
    assert client.traces.list(trace_id=foreign).data == []
    assert len(other.sdk.traces.get_by_trace_id(foreign)) == 2  # agent + one model call
