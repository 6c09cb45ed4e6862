"""The agent loop end to end: official SDKs → fake servers, and the local model."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agents.runtime.loop import run_agent
from agents.runtime.types import (
    AgentRun,
    ContentEvent,
    Message,
    ModelSpec,
    RunBudget,
    RunEvent,
    RunResult,
    RunState,
    ThinkingEvent,
    ToolEndEvent,
    ToolStartEvent,
)
from tests.fakes import FakeReply, FakeToolCall
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

from .helpers import Recorder, anthropic_spec, openai_spec

CALC = FakeToolCall("calculator", {"expression": "12*(3+4)"}, id="call_calc")


def make_run(spec: ModelSpec, text: str = "hello", **kw: Any) -> AgentRun:
    kw.setdefault("retry_base_delay", 0.01)
    kw.setdefault("timeout", 5.0)
    return AgentRun(model=spec, system="You are helpful.", history=(), user_message=text, **kw)


def assert_consistent(result: RunResult, rec: Recorder, state: RunState | None = None) -> None:
    assert result.content == rec.content
    if state is not None:
        assert state.content == rec.content


@pytest.mark.parametrize("which", ["openai", "anthropic"])
async def test_plain_reply(
    which: str, fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = (openai_spec if which == "openai" else anthropic_spec)(
        server, input_price=1.0, output_price=2.0
    )
    server.enqueue(FakeReply(text="Hi! How can I help?", prompt_tokens=1000, completion_tokens=500))
    rec, state = Recorder(), RunState()
    result = await run_agent(make_run(spec), rec, state)
    assert result.status == "completed" and result.error is None and not result.incomplete
    assert result.content == "Hi! How can I help?"
    assert len(rec.of(ContentEvent)) == 5  # streamed word by word
    assert_consistent(result, rec, state)
    assert result.usage.prompt_tokens == 1000 and result.usage.completion_tokens == 500
    assert result.cost == pytest.approx(0.002)
    assert result.model_id == spec.model_id
    (call,) = result.llm_calls
    assert call.attempts == 1 and not call.fallback and call.error is None
    assert call.ttft_ms is not None and call.finish_reason in ("stop", "end_turn")
    assert state.first_token_at is not None


@pytest.mark.parametrize("which", ["openai", "anthropic"])
async def test_multi_round_tool_calls(
    which: str, fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = (openai_spec if which == "openai" else anthropic_spec)(server)
    server.enqueue(
        FakeReply(
            text="Let me calculate.", tool_calls=[CALC], prompt_tokens=50, completion_tokens=10
        ),
        FakeReply(
            tool_calls=[FakeToolCall("calculator", {"expression": "84/4"}, id="call_2")],
            prompt_tokens=80,
            completion_tokens=10,
        ),
        FakeReply(text="It is 84, a quarter is 21.", prompt_tokens=100, completion_tokens=20),
    )
    rec = Recorder()
    result = await run_agent(make_run(spec, "what is 12*(3+4)?", tools=("calculator",)), rec)
    assert result.status == "completed", result.error
    assert result.content == "Let me calculate.\n\nIt is 84, a quarter is 21."
    assert_consistent(result, rec)
    assert [e.name for e in rec.tool_starts] == ["calculator", "calculator"]
    assert [e.summary for e in rec.tool_ends] == ["12*(3+4) = 84", "84/4 = 21"]
    assert [r.result for r in result.tool_runs] == ["84", "21"]
    assert len(result.tool_calls) == 2 and len(result.llm_calls) == 3
    assert result.usage.prompt_tokens == 230 and result.usage.completion_tokens == 40
    # events are ordered: start before end, text before tool start
    kinds = [type(e).__name__ for e in rec.events]
    assert kinds.index("ToolStartEvent") < kinds.index("ToolEndEvent")
    # the tool result went back to the model in the provider's shape
    bodies = [r.json for r in server.chat_requests()]
    assert len(bodies) == 3
    if which == "openai":
        tool_msgs = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
        assert tool_msgs == [{"role": "tool", "tool_call_id": "call_calc", "content": "84"}]
        assert bodies[0]["tools"][0]["function"]["name"] == "calculator"
    else:
        last = bodies[1]["messages"][-1]
        assert last["role"] == "user"
        assert last["content"] == [
            {"type": "tool_result", "tool_use_id": "call_calc", "content": "84"}
        ]


async def test_failing_and_unknown_tools_feed_errors_back(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(
        FakeReply(
            tool_calls=[
                FakeToolCall("calculator", {"expression": "1/0"}, id="c1"),
                FakeToolCall("calculator", {"expression": "__import__('os')"}, id="c2"),
                FakeToolCall("delete_everything", {}, id="c3"),
                FakeToolCall("current_time", {"timezone": "Mars/Olympus"}, id="c4"),
            ]
        ),
        FakeReply(text="Sorry, those failed."),
    )
    rec = Recorder()
    run = make_run(openai_spec(fake_openai), tools=("calculator", "current_time"))
    result = await run_agent(run, rec)
    assert result.status == "completed"
    assert result.content == "Sorry, those failed."
    errors = [e.error or "" for e in rec.tool_ends]
    assert all(errors)
    assert "division by zero" in errors[0]
    assert "unsupported" in errors[1]
    assert "unknown tool" in errors[2]
    assert "unknown timezone" in errors[3]
    tool_msgs = [m for m in fake_openai.chat_requests()[1].json["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["c1", "c2", "c3", "c4"]
    assert all(m["content"].startswith("Error: ") for m in tool_msgs)


async def test_tool_raising_unexpected_exception(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.runtime import tools

    async def boom(args: dict[str, Any]) -> str:
        raise RuntimeError("kaboom")

    broken = tools.BUILTIN_TOOLS["calculator"].__class__(
        name="calculator", description="x", parameters={}, run=boom, summarize=lambda a, r: r
    )
    monkeypatch.setitem(tools.BUILTIN_TOOLS, "calculator", broken)
    fake_openai.enqueue(FakeReply(tool_calls=[CALC]), FakeReply(text="ok"))
    rec = Recorder()
    result = await run_agent(make_run(openai_spec(fake_openai), tools=("calculator",)), rec)
    assert result.status == "completed"
    assert rec.tool_ends[0].error == "RuntimeError: kaboom"


async def test_thinking_events(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(FakeReply(thinking="Hmm, let me think.", text="Done."))
    rec = Recorder()
    result = await run_agent(make_run(anthropic_spec(fake_anthropic)), rec)
    assert rec.thinking == "Hmm, let me think."
    assert len(rec.of(ThinkingEvent)) == 4
    assert result.content == "Done."  # thinking is never part of the content


# --- retries and fallback ---------------------------------------------------------


async def test_retry_500_then_success(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(fault="http_500"), FakeReply(text="recovered"))
    rec = Recorder()
    result = await run_agent(make_run(openai_spec(fake_openai)), rec)
    assert result.status == "completed" and result.content == "recovered"
    assert result.llm_calls[0].attempts == 2
    assert len(fake_openai.chat_requests()) == 2


async def test_retry_429_honours_retry_after(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(FakeReply(fault="http_429", retry_after="0.3"), FakeReply(text="ok"))
    started = time.monotonic()
    result = await run_agent(make_run(anthropic_spec(fake_anthropic)), Recorder())
    assert time.monotonic() - started >= 0.3
    assert result.status == "completed" and result.content == "ok"


async def test_non_retryable_error_is_not_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(fault="http_400"))
    result = await run_agent(make_run(openai_spec(fake_openai)), Recorder())
    assert result.status == "failed"
    assert "HTTP 400" in (result.error or "")
    assert len(fake_openai.chat_requests()) == 1
    assert not result.incomplete


async def test_fallback_after_retries_exhausted(
    fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_openai.enqueue(*[FakeReply(fault="http_503")] * 3)
    fake_anthropic.enqueue(FakeReply(tool_calls=[CALC]), FakeReply(text="Fallback answer: 84."))
    run = make_run(
        openai_spec(fake_openai),
        "what is 12*(3+4)?",
        fallback=anthropic_spec(fake_anthropic, model_id="claude-fallback"),
        tools=("calculator",),
        max_retries=2,
    )
    state = RunState()
    result = await run_agent(run, Recorder(), state)
    assert result.status == "completed", result.error
    assert result.content == "Fallback answer: 84."
    assert result.model_id == "claude-fallback" == state.model_id
    assert len(fake_openai.chat_requests()) == 3  # 1 + 2 retries, then never again
    assert len(fake_anthropic.chat_requests()) == 2  # the fallback is kept for round 2
    primary, fb1, fb2 = result.llm_calls
    assert primary.attempts == 3 and primary.error and not primary.fallback
    assert fb1.fallback and fb2.fallback and fb1.error is None


async def test_all_models_fail(
    fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_openai.enqueue(*[FakeReply(fault="http_500")] * 2)
    fake_anthropic.enqueue(*[FakeReply(fault="http_529")] * 2)
    run = make_run(openai_spec(fake_openai), fallback=anthropic_spec(fake_anthropic), max_retries=1)
    result = await run_agent(run, Recorder())
    assert result.status == "failed"
    assert "gpt-4o-mini failed after 2 attempt(s)" in (result.error or "")
    assert "fallback claude-test failed after 2 attempt(s)" in (result.error or "")
    assert result.content == "" and not result.incomplete


# --- budgets -------------------------------------------------------------------------


async def test_tool_call_budget_exhausted(fake_openai: FakeOpenAIServer) -> None:
    loop_reply = FakeReply(text="Again.", tool_calls=[CALC])
    fake_openai.enqueue(loop_reply, loop_reply, loop_reply, FakeReply(text="never"))
    rec = Recorder()
    run = make_run(
        openai_spec(fake_openai), tools=("calculator",), budget=RunBudget(max_tool_calls=2)
    )
    result = await run_agent(run, rec)
    assert result.status == "failed" and result.incomplete
    assert (result.error or "").startswith("tool call budget exhausted")
    assert len(rec.tool_ends) == 2  # the third call was not executed
    assert result.content == "Again.\n\nAgain.\n\nAgain."
    assert_consistent(result, rec)


async def test_zero_tool_budget_means_no_tools_offered(fake_openai: FakeOpenAIServer) -> None:
    run = make_run(
        openai_spec(fake_openai), tools=("calculator",), budget=RunBudget(max_tool_calls=0)
    )
    result = await run_agent(run, Recorder())
    assert result.status == "completed"
    assert "tools" not in fake_openai.chat_requests()[0].json


async def test_token_budget_exhausted(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(
        FakeReply(
            text="Thinking out loud.", tool_calls=[CALC], prompt_tokens=900, completion_tokens=200
        ),
        FakeReply(text="never"),
    )
    rec = Recorder()
    run = make_run(
        openai_spec(fake_openai), tools=("calculator",), budget=RunBudget(max_total_tokens=1000)
    )
    result = await run_agent(run, rec)
    assert result.status == "failed" and result.incomplete
    assert (result.error or "").startswith("token budget exhausted")
    assert result.content == "Thinking out loud."
    assert rec.tool_starts == []
    assert len(fake_openai.chat_requests()) == 1


async def test_cost_budget_exhausted(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(tool_calls=[CALC], prompt_tokens=1_000_000, completion_tokens=0))
    spec = openai_spec(fake_openai, input_price=2.0)
    run = make_run(spec, tools=("calculator",), budget=RunBudget(max_cost=1.0))
    result = await run_agent(run, Recorder())
    assert result.status == "failed" and (result.error or "").startswith("cost budget exhausted")
    assert result.cost == 2.0


# --- stream failures -------------------------------------------------------------------


@pytest.mark.parametrize("which", ["openai", "anthropic"])
async def test_mid_stream_reset_keeps_partial(
    which: str, fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = (openai_spec if which == "openai" else anthropic_spec)(server)
    server.enqueue(FakeReply(text="one two three four", fault="reset", fault_after=2))
    rec, state = Recorder(), RunState()
    result = await run_agent(make_run(spec), rec, state)
    assert result.status == "failed" and result.incomplete
    assert result.content == "one two" == state.content
    assert_consistent(result, rec)
    assert "model stream failed" in (result.error or "")
    assert len(server.chat_requests()) == 1  # never retried after the first chunk


@pytest.mark.parametrize("which", ["openai", "anthropic"])
async def test_malformed_chunk(
    which: str, fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = (openai_spec if which == "openai" else anthropic_spec)(server)
    server.enqueue(FakeReply(text="alpha beta", fault="malformed_chunk", fault_after=1))
    rec = Recorder()
    result = await run_agent(make_run(spec), rec)
    assert result.status == "failed" and result.incomplete
    assert "malformed" in (result.error or "")
    assert result.content == "alpha"


async def test_stall_mid_stream_past_timeout(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(text="slow and then nothing", fault="stall", fault_after=2))
    started = time.monotonic()
    result = await run_agent(make_run(openai_spec(fake_openai), timeout=0.3), Recorder())
    assert time.monotonic() - started < 3
    assert result.status == "failed" and result.incomplete
    assert "timed out" in (result.error or "")
    assert result.content == "slow and"


async def test_the_timeout_is_for_silence_not_for_the_whole_reply(
    fake_openai: FakeOpenAIServer
) -> None:
    # 12 chunks 0.1 s apart: 1.2 s in all, four times the timeout, never 0.3 s of silence
    words = " ".join(f"w{i}" for i in range(12))
    fake_openai.enqueue(FakeReply(text=words, inter_chunk_delay=0.1))
    result = await run_agent(make_run(openai_spec(fake_openai), timeout=0.3), Recorder())
    assert result.status == "completed" and result.content == words


async def test_stall_before_first_byte_retried_then_fails(
    fake_anthropic: FakeAnthropicServer
) -> None:
    stall = FakeReply(fault="stall", fault_after=0, stall_seconds=10)
    fake_anthropic.enqueue(stall, stall)
    started = time.monotonic()
    run = make_run(anthropic_spec(fake_anthropic), timeout=0.3, max_retries=1)
    result = await run_agent(run, Recorder())
    assert time.monotonic() - started < 3
    assert result.status == "failed" and not result.incomplete
    assert "timed out" in (result.error or "")
    assert result.llm_calls[0].attempts == 2


async def test_stall_then_success_on_retry(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(
        FakeReply(fault="stall", fault_after=0, stall_seconds=10), FakeReply(text="ok")
    )
    result = await run_agent(make_run(openai_spec(fake_openai), timeout=0.3), Recorder())
    assert result.status == "completed" and result.content == "ok"


@pytest.mark.parametrize("which", ["openai", "anthropic"])
async def test_empty_reply(
    which: str, fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = (openai_spec if which == "openai" else anthropic_spec)(server)
    server.enqueue(FakeReply(fault="empty"))
    rec = Recorder()
    result = await run_agent(make_run(spec), rec)
    assert result.status == "failed"
    assert result.error == "model returned an empty response"
    assert result.content == "" and rec.events == []
    assert len(server.chat_requests()) == 1


# --- cancellation ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["openai", "anthropic"])
async def test_cancellation_closes_the_stream(
    which: str, fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = (openai_spec if which == "openai" else anthropic_spec)(server)
    words = " ".join(f"w{i}" for i in range(200))
    server.enqueue(FakeReply(text=words, inter_chunk_delay=0.02))
    rec, state = Recorder(), RunState()
    got_some = asyncio.Event()

    async def emit(event: RunEvent) -> None:
        await rec(event)
        if len(rec.events) >= 3:
            got_some.set()

    task = asyncio.create_task(run_agent(make_run(spec), emit, state))
    await asyncio.wait_for(got_some.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state.content == rec.content
    assert state.content.startswith("w0 w1 w2")
    assert len(state.content) < len(words)
    request = server.chat_requests()[-1]
    assert await asyncio.to_thread(request.disconnected.wait, 3), "server did not see a close"
    assert not request.completed


async def test_cancellation_during_tool_keeps_state(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.runtime import tools

    started = asyncio.Event()

    async def slow(args: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(10)  # a tool that hangs: the run is cancelled meanwhile
        return "never"

    tool = tools.BUILTIN_TOOLS["calculator"].__class__(
        name="calculator", description="x", parameters={}, run=slow, summarize=lambda a, r: r
    )
    monkeypatch.setitem(tools.BUILTIN_TOOLS, "calculator", tool)
    fake_openai.enqueue(FakeReply(text="Working on it.", tool_calls=[CALC]))
    state = RunState()
    task = asyncio.create_task(
        run_agent(make_run(openai_spec(fake_openai), tools=("calculator",)), Recorder(), state)
    )
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state.content == "Working on it."
    assert [c.name for c in state.tool_calls] == ["calculator"]
    assert len(state.llm_calls) == 1


# --- local model through the loop ---------------------------------------------------------


async def test_local_model_calculator_round_trip() -> None:
    spec = ModelSpec(provider="local", model_id="echo")
    history = (Message("user", "hi"), Message("assistant", 'Turn 1. You said: "hi"'))
    run = AgentRun(
        model=spec,
        system="",
        history=history,
        user_message="what is 12*(3+4)?",
        tools=("calculator", "current_time"),
    )
    rec = Recorder()
    result = await run_agent(run, rec)
    assert result.status == "completed"
    assert result.content == 'Turn 2. Earlier you said: "hi". The calculator says 12*(3+4) = 84.'
    assert_consistent(result, rec)
    # no narration before the tool call
    assert isinstance(rec.events[0], ToolStartEvent)
    assert isinstance(rec.events[1], ToolEndEvent) and rec.events[1].summary == "12*(3+4) = 84"
    assert result.usage.total_tokens > 0
    again = await run_agent(run, Recorder())
    assert again.content == result.content  # deterministic


async def test_local_model_current_time() -> None:
    run = AgentRun(
        model=ModelSpec("local", "echo"),
        system="",
        history=(),
        user_message="What time is it in Asia/Tokyo?",
        tools=("current_time",),
    )
    rec = Recorder()
    result = await run_agent(run, rec)
    assert rec.tool_starts[0].arguments == {"timezone": "Asia/Tokyo"}
    assert result.content.startswith("Turn 1. The current time in Asia/Tokyo is ")
    assert "+09:00" in result.content


async def test_unknown_provider_fails_cleanly() -> None:
    run = AgentRun(model=ModelSpec("nope", "x"), system="", history=(), user_message="hi")
    result = await run_agent(run, Recorder())
    assert result.status == "failed" and "unknown provider" in (result.error or "")


async def test_emit_errors_propagate_and_close_stream(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(text=" ".join(["x"] * 100), inter_chunk_delay=0.01))

    async def emit(event: RunEvent) -> None:
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await run_agent(make_run(openai_spec(fake_openai)), emit)
    request = fake_openai.chat_requests()[-1]
    assert await asyncio.to_thread(request.disconnected.wait, 3)


async def test_anthropic_overloaded_error_event_is_retried(
    fake_anthropic: FakeAnthropicServer
) -> None:
    overloaded = (
        b"event: error\n"
        b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    fake_anthropic.enqueue(FakeReply(raw=overloaded), FakeReply(text="fine now"))
    result = await run_agent(make_run(anthropic_spec(fake_anthropic)), Recorder())
    assert result.status == "completed" and result.content == "fine now"
    assert result.llm_calls[0].attempts == 2
