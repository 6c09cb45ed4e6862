"""GET /api/v1/traces, /traces/{trace_id}, /traces/summary: filters, order, scoping, errors."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from executions.models import Execution, Span
from tests.chat.support import fake_openai_agent
from tests.fakes.server import FakeReply
from tests.helpers import assert_error, assert_isolated
from tests.traces.support import Chat

TRACES = "/api/v1/traces"


def _ids(body: dict[str, Any]) -> list[str]:
    return [s["id"] for s in body["data"]]


@pytest.fixture
def two_turns(chat: Chat, fake_openai: Any) -> tuple[Execution, Execution, Execution]:
    """Two tool turns in one session, one failed turn in another."""
    session = chat.session()
    first = chat.send(session)
    second = chat.send(session)
    agent = fake_openai_agent(workspace=chat.tenant.workspace, base_url=fake_openai.base_url)
    fake_openai.default = FakeReply(fault="http_400")
    failed = chat.send(chat.session(agent.id), "hello", status=502)
    return first, second, failed


def test_list_is_newest_first_and_paginated(chat: Chat, two_turns: Any) -> None:
    first, second, failed = two_turns
    body = chat.tenant.client.get(TRACES).json()
    assert body["meta"] == {"total": 10, "page": 1, "limit": 20, "pages": 1, "total_pages": 1}
    started = [s["started_at"] for s in body["data"]]
    assert started == sorted(started, reverse=True)
    assert len(body["data"]) == 10
    page = chat.tenant.client.get(TRACES, {"limit": 3, "page": 2}).json()
    assert page["meta"] == {"total": 10, "page": 2, "limit": 3, "pages": 4, "total_pages": 4}
    assert _ids(page) == _ids(body)[3:6]
    beyond = chat.tenant.client.get(TRACES, {"page": 9}).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 10


def test_filters(chat: Chat, two_turns: Any) -> None:
    first, second, failed = two_turns
    client = chat.tenant.client

    def ids(**params: Any) -> set[str]:
        body = client.get(TRACES, {"limit": 100, **params}).json()
        assert body["meta"]["total"] == len(body["data"])
        return {s["id"] for s in body["data"]}

    def spans(**lookups: Any) -> set[str]:
        return set(Span.objects.filter(**lookups).values_list("id", flat=True))

    assert ids(trace_id=first.trace_id) == spans(trace_id=first.trace_id)
    assert ids(trace_id=first.trace_id.upper()) == spans(trace_id=first.trace_id)
    assert ids(kind="tool") == spans(kind="tool") and len(ids(kind="tool")) == 2
    assert ids(kind="agent") == spans(kind="agent") and len(ids(kind="agent")) == 3
    assert ids(execution_id=second.id) == spans(execution=second)
    assert ids(session_id=first.session_id) == spans(session_id=first.session_id)
    assert len(ids(session_id=first.session_id)) == 8
    assert ids(status="error") == spans(status="error")
    assert ids(status="error", kind="agent") == spans(execution=failed, kind="agent")
    assert ids(kind="llm", trace_id=second.trace_id) == spans(execution=second, kind="llm")
    assert ids(agent_id=chat.agent_id) == spans(execution__agent_id=chat.agent_id)
    assert ids(model_name="echo") == spans(model="echo")
    assert ids(session_id="nope") == set() and ids(execution_id="nope") == set()
    assert ids(trace_id="0" * 32) == set()
    assert ids(date_from="2000-01-01") == spans()
    assert ids(date_to="2000-01-01") == set()
    assert ids(date_from="2000-01-01T00:00:00Z", date_to="2999-12-31") == spans()


@pytest.mark.parametrize("params, field", [
    ({"kind": "workflow"}, "kind"),
    ({"status": "failed"}, "status"),
    ({"trace_id": "xyz"}, "trace_id"),
    ({"trace_id": "g" * 32}, "trace_id"),
    ({"date_from": "yesterday"}, "date_from"),
    ({"date_to": "2026-13-45"}, "date_to"),
    ({"page": "0"}, "page"),
    ({"page": "x"}, "page"),
    ({"limit": "101"}, "limit"),
])
def test_bad_filter_values_are_400(chat: Chat, params: dict[str, str], field: str) -> None:
    for path in (TRACES, f"{TRACES}/summary"):
        if path.endswith("summary") and field in ("page", "limit"):
            continue
        error = assert_error(chat.tenant.client.get(path, params), 400, "validation_error")
        assert field in error["details"], error


def test_trace_detail_lists_every_span_without_meta(chat: Chat) -> None:
    execution = chat.send(chat.session())
    response = chat.tenant.client.get(f"{TRACES}/{execution.trace_id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    spans = body["data"]
    assert [s["kind"] for s in spans] == ["agent", "llm", "tool", "llm"]
    root = spans[0]
    assert root["parent_span_id"] == "" and root["execution_id"] == execution.id
    assert all(s["parent_span_id"] == root["span_id"] for s in spans[1:])
    assert all(s["trace_id"] == execution.trace_id for s in spans)
    tool = spans[2]
    assert tool["mcp_tool_name"] == "calculator" and tool["token_usage"] is None
    assert tool["output"]["summary"] == "6*7 = 42"
    assert spans[1]["completion_start_time"] is not None
    for span in spans:
        assert span["started_at"].endswith("Z") and span["ended_at"].endswith("Z")
        assert isinstance(span["duration_ms"], int) and isinstance(span["cost"], float)
    # uppercase hex is the same trace
    upper = chat.tenant.client.get(f"{TRACES}/{execution.trace_id.upper()}").json()
    assert [s["id"] for s in upper["data"]] == [s["id"] for s in spans]


def test_list_queries_do_not_grow_with_the_page(chat: Chat) -> None:
    session = chat.session()
    chat.send(session)
    chat.send(session)
    with CaptureQueriesContext(connection) as small:
        chat.tenant.client.get(TRACES, {"limit": 2})
    with CaptureQueriesContext(connection) as large:
        chat.tenant.client.get(TRACES, {"limit": 100})
    assert len(large.captured_queries) == len(small.captured_queries)


def test_unknown_trace_is_404(chat: Chat) -> None:
    for trace_id in ("0" * 32, "not-a-trace", "summaryx"):
        assert_error(chat.tenant.client.get(f"{TRACES}/{trace_id}"), 404, "not_found")
    assert_error(chat.tenant.client.post(TRACES, {}, format="json"), 405, "method_not_allowed")


def test_trailing_slash_is_not_a_route(chat: Chat) -> None:
    assert_error(chat.tenant.client.get(f"{TRACES}/"), 404, "not_found")


def test_workspaces_are_isolated(chat: Chat, other_chat: Chat) -> None:
    mine = chat.send(chat.session())
    theirs = other_chat.send(other_chat.session())
    assert_isolated(chat.tenant.client, "GET", f"{TRACES}/{theirs.trace_id}")
    assert_isolated(other_chat.tenant.client, "GET", f"{TRACES}/{mine.trace_id}")
    for client, own, foreign in ((chat.tenant.client, mine, theirs),
                                 (other_chat.tenant.client, theirs, mine)):
        listed = client.get(TRACES, {"limit": 100}).json()["data"]
        assert {s["trace_id"] for s in listed} == {own.trace_id}
        queries: list[dict[str, Any]] = [{"trace_id": foreign.trace_id},
                                         {"execution_id": foreign.id},
                                         {"session_id": foreign.session_id}]
        for params in queries:
            assert client.get(TRACES, params).json()["meta"]["total"] == 0
            assert client.get(f"{TRACES}/summary", params).json()["data"]["total_traces"] == 0
        assert client.get(f"{TRACES}/summary").json()["data"]["total_traces"] == 1


def test_unauthenticated_is_401(chat: Chat) -> None:
    from rest_framework.test import APIClient

    for path in (TRACES, f"{TRACES}/summary", f"{TRACES}/{'0' * 32}"):
        assert_error(APIClient().get(path), 401, "unauthorized")
