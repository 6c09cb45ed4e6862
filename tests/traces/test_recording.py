"""Spans recorded by the runner: a tool-using turn, a failed turn, a cancelled run, one batch."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Manager
from django.utils import timezone

from agents.runtime.types import LlmCall, ToolRun, Usage
from executions import traces
from executions.models import Execution, Span
from executions.types import RunResult
from tests.chat.support import fake_openai_agent
from tests.fakes.server import FakeReply, FakeToolCall
from tests.helpers import assert_error
from tests.traces.support import Chat

HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _set(value: Any) -> Any:
    """A nullable field (JSON, a timestamp) that the test expects set."""
    assert value is not None
    return value


def _spans(execution: Execution) -> list[Span]:
    return list(Span.objects.filter(execution=execution).order_by("started_at", "id"))


def test_tool_turn_has_root_llm_and_tool_spans(chat: Chat) -> None:
    execution = chat.send(chat.session())
    assert execution.status == "completed"
    spans = _spans(execution)
    roots = [s for s in spans if s.kind == "agent"]
    assert len(roots) == 1
    root = roots[0]
    assert root.parent_span_id == "" and HEX16.match(root.span_id)
    assert root.name == "Demo agent" and root.status == "ok" and root.error is None
    assert execution.duration_ms is not None
    assert abs(root.duration_ms - execution.duration_ms) <= 1
    assert (root.total_tokens, root.cost) == (execution.total_tokens, execution.cost)
    assert root.prompt_tokens == execution.prompt_tokens
    assert root.input == {"message": "what is 6*7?"}
    assert "42" in _set(root.output)["content"]

    assert {s.trace_id for s in spans} == {execution.trace_id}
    assert len({s.span_id for s in spans}) == len(spans)
    assert all(s.workspace_id == chat.tenant.workspace.id for s in spans)
    assert all(s.session_id == execution.session_id for s in spans)
    children = [s for s in spans if s is not root]
    assert all(s.parent_span_id == root.span_id and HEX16.match(s.span_id) for s in children)
    assert [s.kind for s in children] == ["llm", "tool", "llm"]  # time order

    llms = [s for s in children if s.kind == "llm"]
    for llm in llms:
        assert llm.provider == "local" and llm.model == "echo" and llm.name == "chat echo"
        assert llm.prompt_tokens > 0 and llm.completion_tokens > 0
        assert llm.total_tokens == llm.prompt_tokens + llm.completion_tokens
        assert llm.ttft_ms is not None and llm.ttft_ms <= llm.duration_ms + 1
        assert llm.attributes["attempts"] == 1 and llm.attributes["fallback"] is False
        assert llm.status == "ok"
    assert [llm.attributes["finish_reason"] for llm in llms] == ["tool_calls", "stop"]
    assert sum(s.total_tokens for s in llms) == execution.total_tokens

    tool = next(s for s in children if s.kind == "tool")
    assert tool.name == "calculator" and tool.status == "ok" and tool.error is None
    assert tool.input == {"arguments": {"expression": "6*7"}}
    assert tool.output == {"result": "42", "summary": "6*7 = 42"}
    assert tool.attributes["result_summary"] == "6*7 = 42"
    assert tool.attributes["arguments"] == {"expression": "6*7"}
    assert isinstance(tool.duration_ms, int) and tool.duration_ms >= 0
    assert tool.ended_at is not None and tool.ended_at >= tool.started_at
    assert root.started_at <= min(s.started_at for s in children)
    assert root.ended_at is not None and root.ended_at >= max(_set(s.ended_at) for s in children)


def test_costs_and_cached_tokens_per_model_call(chat: Chat, fake_openai: Any) -> None:
    agent = fake_openai_agent(workspace=chat.tenant.workspace, base_url=fake_openai.base_url)
    fake_openai.enqueue(FakeReply(tool_calls=[FakeToolCall("calculator", {"expression": "2+2"})],
                                  prompt_tokens=1000, completion_tokens=10, cached_tokens=400))
    fake_openai.enqueue(FakeReply(text="It is four.", prompt_tokens=1200, completion_tokens=5,
                                  reasoning_tokens=2, first_token_delay=0.05))
    execution = chat.send(chat.session(agent.id), "2+2?")
    spans = _spans(execution)
    llms = [s for s in spans if s.kind == "llm"]
    assert [(s.prompt_tokens, s.completion_tokens) for s in llms] == [(1000, 10), (1200, 5)]
    assert (llms[0].cached_tokens, llms[1].reasoning_tokens) == (400, 2)
    assert all(s.cost > 0 for s in llms)
    assert sum(s.cost for s in llms) == pytest.approx(execution.cost)
    assert llms[1].ttft_ms is not None and llms[1].ttft_ms >= 40
    root = next(s for s in spans if s.kind == "agent")
    assert root.cost == pytest.approx(execution.cost) and root.cost > 0

    body = chat.tenant.client.get(f"/api/v1/traces/{execution.trace_id}").json()["data"]
    first = next(s for s in body if s["kind"] == "llm")
    assert first["token_usage"] == {"prompt_tokens": 1000, "completion_tokens": 10,
                                    "total_tokens": 1010, "cached_tokens": 400}
    assert first["cost"] == pytest.approx(llms[0].cost)


def test_failed_turn_records_error_spans(chat: Chat, fake_openai: Any) -> None:
    agent = fake_openai_agent(workspace=chat.tenant.workspace, base_url=fake_openai.base_url)
    fake_openai.default = FakeReply(fault="http_400")
    session_id = chat.session(agent.id)
    response = chat.tenant.client.post(f"/api/v1/chat/sessions/{session_id}/messages",
                                       {"content": "hello"}, format="json")
    assert_error(response, 502, "upstream_error")
    execution = Execution.objects.get(session_id=session_id)
    assert execution.status == "failed"
    spans = _spans(execution)
    root = next(s for s in spans if s.kind == "agent")
    assert root.status == "error" and root.error == execution.error
    assert root.attributes["execution_status"] == "failed"
    llms = [s for s in spans if s.kind == "llm"]
    assert llms and all(s.status == "error" and s.error for s in llms)
    assert all(s.parent_span_id == root.span_id for s in llms)

    data = chat.tenant.client.get(f"/api/v1/traces/{execution.trace_id}").json()["data"]
    assert data[0]["status"] == "error" and data[0]["level"] == "error"
    assert data[0]["error_message"] == execution.error


def test_partial_reply_failure_keeps_the_model_call(chat: Chat, fake_openai: Any) -> None:
    agent = fake_openai_agent(workspace=chat.tenant.workspace, base_url=fake_openai.base_url)
    fake_openai.enqueue(FakeReply(text="The partial answer goes on and on", fault="reset",
                                  fault_after=3))
    session_id = chat.session(agent.id)
    chat.tenant.client.post(f"/api/v1/chat/sessions/{session_id}/messages",
                            {"content": "tell me"}, format="json")
    execution = Execution.objects.get(session_id=session_id)
    spans = _spans(execution)
    assert [s.kind for s in spans][0] == "agent"
    assert spans[0].status == "error" and _set(spans[0].output)["incomplete"] is True
    assert any(s.kind == "llm" and s.status == "error" for s in spans)


def _finished(execution: Execution, status: str, error: str | None) -> RunResult:
    now = timezone.now().timestamp()
    usage = Usage(prompt_tokens=10, completion_tokens=5)
    return RunResult(
        execution_id=execution.id, status=status, content="half", error=error,
        incomplete=True, usage=usage, cost=0.001, model_id="m", duration_ms=50,
        tool_runs=(ToolRun(id="t1", name="mystery", arguments={"x": "y" * 10_000},
                           result="boom", error="tool exploded", duration_ms=3,
                           started_at=now - 0.02),),
        llm_calls=(LlmCall(provider="openai", model_id="m", usage=usage, cost=0.001,
                           ttft_ms=None, duration_ms=10, finish_reason=None, attempts=3,
                           fallback=True, error=None, started_at=now - 0.04),),
    )


def test_cancelled_run_spans_and_truncation(chat: Chat) -> None:
    execution = Execution.objects.create(workspace=chat.tenant.workspace, agent_name="A",
                                         trace_id="ab" * 16, input={"message": "hi"})
    spans = traces.spans_record(_finished(execution, "cancelled", "cancelled"))
    assert len(spans) == 3 and Span.objects.filter(execution=execution).count() == 3
    root, llm, tool = (next(s for s in spans if s.kind == k) for k in ("agent", "llm", "tool"))
    assert root.status == "error" and root.error == "cancelled"
    assert llm.status == "ok" and llm.attributes["retries"] == 2
    assert llm.attributes["fallback"] is True and llm.ttft_ms is None
    assert tool.status == "error" and tool.error == "tool exploded"
    assert _set(tool.output)["summary"] == "mystery failed: tool exploded"
    arguments = _set(tool.input)["arguments"]
    assert isinstance(arguments, str) and len(arguments) <= 4000
    assert root.started_at <= llm.started_at <= tool.started_at <= _set(root.ended_at)
    assert _set(root.ended_at) - root.started_at >= timedelta(milliseconds=40)


def test_spans_are_one_bulk_insert_per_turn(chat: Chat, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    calls: list[tuple[str, int]] = []
    original = Manager.bulk_create

    def spy(self: Any, objs: Any, *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        calls.append((self.model.__name__, len(objs)))
        return original(self, objs, *args, **kwargs)

    monkeypatch.setattr(Manager, "bulk_create", spy)
    saves: list[Any] = []
    original_save = Span.save

    def save(self: Span, *args: Any, **kwargs: Any) -> None:
        saves.append(self)
        original_save(self, *args, **kwargs)

    monkeypatch.setattr(Span, "save", save)
    execution = chat.send(chat.session())
    assert [c for c in calls if c[0] == "Span"] == [("Span", 4)]
    assert saves == []
    assert Span.objects.filter(execution=execution).count() == 4


def test_a_tracing_failure_never_fails_the_turn(chat: Chat,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracing is broken")

    monkeypatch.setattr(traces, "spans_build", broken)
    execution = chat.send(chat.session())
    assert execution.status == "completed"
    assert "42" in _set(execution.output)["content"]
    assert not Span.objects.filter(execution=execution).exists()


def test_interrupted_run_gets_a_root_span(chat: Chat) -> None:
    from executions.services import execution_recover

    stale = timezone.now() - timedelta(minutes=10)
    execution = Execution.objects.create(workspace=chat.tenant.workspace, agent_name="A",
                                         trace_id="cd" * 16, status="running",
                                         started_at=stale, heartbeat_at=stale)
    assert execution_recover(execution_id=execution.id)
    (root,) = Span.objects.filter(execution=execution)
    assert root.kind == "agent" and root.status == "error" and root.error == "interrupted"
    assert root.trace_id == "cd" * 16 and root.parent_span_id == ""
    assert abs((root.started_at - stale).total_seconds()) < 1
    assert root.duration_ms >= 600_000 - 1000
