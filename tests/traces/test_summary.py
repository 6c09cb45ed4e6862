"""GET /api/v1/traces/summary: the numbers agree with the executions they trace."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Avg, Sum

from executions.models import Execution, Span
from tests.chat.support import fake_openai_agent
from tests.fakes.server import FakeReply
from tests.traces.support import Chat

SUMMARY = "/api/v1/traces/summary"
KEYS = {"total_traces", "total_tokens", "total_cost", "avg_duration_ms", "error_count",
        "unique_models", "unique_sessions"}


def _summary(chat: Chat, **params: Any) -> dict[str, Any]:
    response = chat.tenant.client.get(SUMMARY, params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"data"} and set(body["data"]) == KEYS
    return dict(body["data"])


def test_empty_workspace(chat: Chat) -> None:
    assert _summary(chat) == {"total_traces": 0, "total_tokens": 0, "total_cost": 0.0,
                              "avg_duration_ms": 0.0, "error_count": 0, "unique_models": 0,
                              "unique_sessions": 0}


def test_summary_matches_the_executions(chat: Chat, fake_openai: Any) -> None:
    local_session = chat.session()
    chat.send(local_session)
    chat.send(local_session)
    agent = fake_openai_agent(workspace=chat.tenant.workspace, base_url=fake_openai.base_url)
    paid_session = chat.session(agent.id)
    fake_openai.enqueue(FakeReply(text="paid words here", prompt_tokens=300,
                                  completion_tokens=20))
    chat.send(paid_session, "hi")
    fake_openai.default = FakeReply(fault="http_400")
    chat.send(paid_session, "again", status=502)

    executions = Execution.objects.filter(workspace=chat.tenant.workspace)
    totals = executions.aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"),
                                  avg=Avg("duration_ms"))
    summary = _summary(chat)
    assert summary["total_traces"] == executions.count() == 4
    assert summary["total_tokens"] == totals["tokens"] > 0
    assert summary["total_cost"] == pytest.approx(totals["cost"]) and summary["total_cost"] > 0
    # root spans last what the runner measured (±1 ms of rounding when placed on the clock)
    assert summary["avg_duration_ms"] == pytest.approx(totals["avg"], abs=1)
    failed_llm = Span.objects.filter(execution__status="failed", kind="llm").count()
    assert summary["error_count"] == 1 + failed_llm  # the failed turn's root + its model calls
    assert summary["unique_models"] == 2  # echo, fake-gpt
    assert summary["unique_sessions"] == 2

    # over one session
    local = _summary(chat, session_id=local_session)
    local_execs = executions.filter(session_id=local_session)
    assert local["total_traces"] == 2 and local["unique_sessions"] == 1
    assert local["total_tokens"] == sum(e.total_tokens for e in local_execs)
    assert local["error_count"] == 0 and local["unique_models"] == 1
    assert local["total_cost"] == 0.0

    # measured on model calls when kind=llm: same tokens, counted once per call
    llm = _summary(chat, kind="llm")
    assert llm["total_tokens"] == totals["tokens"]
    assert llm["total_cost"] == pytest.approx(totals["cost"])
    assert llm["avg_duration_ms"] == pytest.approx(
        Span.objects.filter(kind="llm").aggregate(a=Avg("duration_ms"))["a"], abs=0.001)

    tools = _summary(chat, kind="tool")
    assert tools["total_traces"] == 2 and tools["total_tokens"] == 0
    assert tools["unique_models"] == 0

    errors = _summary(chat, status="error")
    failed = executions.get(status="failed")
    assert errors["total_traces"] == 1 and errors["error_count"] == summary["error_count"]
    assert errors["total_tokens"] == failed.total_tokens

    one = _summary(chat, trace_id=failed.trace_id)
    assert one["total_traces"] == 1
    assert one["avg_duration_ms"] == pytest.approx(failed.duration_ms, abs=1)

    by_execution = _summary(chat, execution_id=failed.id)
    assert by_execution == one


def test_sdk_style_extra_filters(chat: Chat) -> None:
    chat.send(chat.session())
    assert _summary(chat, agent_id=chat.agent_id)["total_traces"] == 1
    assert _summary(chat, agent_id="other")["total_traces"] == 0
    assert _summary(chat, model_name="echo")["total_traces"] == 1
    assert _summary(chat, date_from="2000-01-01")["total_traces"] == 1
    assert _summary(chat, date_to="2000-01-01")["total_traces"] == 0
    assert _summary(chat, level="whatever", unknown="x")["total_traces"] == 1
