"""The loop parks at a call needing approval and continues from the stored point."""

from __future__ import annotations

from dataclasses import replace

from agents.runtime.loop import run_agent
from agents.runtime.types import (
    AgentRun,
    Resume,
    RunResult,
    ToolStartEvent,
)
from tests.fakes import FakeReply, FakeToolCall
from tests.fakes.openai_server import FakeOpenAIServer

from .helpers import Recorder, openai_spec

CLOCK = FakeToolCall("current_time", {"timezone": "UTC"}, id="call_time")
CALC = FakeToolCall("calculator", {"expression": "6*7"}, id="call_calc")


def _resume(parked_result: RunResult, approved: bool, reason: str = "") -> Resume:
    assert parked_result.parked is not None
    return Resume(parked=parked_result.parked, approved=approved, reason=reason,
                  content=parked_result.content, usage=parked_result.usage,
                  cost=parked_result.cost, model_id=parked_result.model_id,
                  tool_calls=parked_result.tool_calls, tool_runs=parked_result.tool_runs,
                  llm_calls=parked_result.llm_calls)


async def test_a_round_runs_until_the_gated_call_then_resumes_approved(
    fake_openai: FakeOpenAIServer
) -> None:
    spec = openai_spec(fake_openai)
    fake_openai.enqueue(
        FakeReply(text="Checking.", tool_calls=[CLOCK, CALC], prompt_tokens=10,
                  completion_tokens=5),
        FakeReply(text="It is 42.", prompt_tokens=20, completion_tokens=5),
    )
    run = AgentRun(model=spec, system="s", history=(), user_message="time and 6*7?",
                   tools=("current_time", "calculator"), timeout=5.0,
                   approval_required=frozenset({"calculator"}))
    rec = Recorder()
    parked = await run_agent(run, rec)
    assert parked.status == "parked" and parked.parked is not None
    # the clock (not gated) ran; the calculator did not
    assert [e.name for e in rec.tool_starts] == ["current_time"]
    assert [c.name for c in parked.parked.pending] == ["calculator"]
    assert parked.parked.messages[-1].role == "tool"
    assert parked.parked.messages[-2].tool_calls[1].name == "calculator"
    assert parked.content == "Checking." and len(fake_openai.chat_requests()) == 1

    rec2 = Recorder()
    done = await run_agent(replace(run, resume=_resume(parked, approved=True)), rec2)
    assert done.status == "completed", done.error
    assert isinstance(rec2.events[0], ToolStartEvent) and rec2.events[0].name == "calculator"
    assert rec2.tool_ends[0].result == "42"
    assert done.content == "Checking.\n\nIt is 42."
    assert [r.name for r in done.tool_runs] == ["current_time", "calculator"]
    assert done.usage.prompt_tokens == 30 and len(done.llm_calls) == 2
    # the model got both results in the order it asked
    body = fake_openai.chat_requests()[1].json
    tools = [m for m in body["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == ["call_time", "call_calc"]
    assert tools[1]["content"] == "42"


async def test_denied_call_is_a_result_the_model_sees(fake_openai: FakeOpenAIServer) -> None:
    spec = openai_spec(fake_openai)
    fake_openai.enqueue(FakeReply(tool_calls=[CALC]), FakeReply(text="Understood."))
    run = AgentRun(model=spec, system="s", history=(), user_message="6*7?",
                   tools=("calculator",), timeout=5.0,
                   approval_required=frozenset({"calculator"}))
    parked = await run_agent(run, Recorder())
    assert parked.status == "parked"
    rec = Recorder()
    done = await run_agent(replace(run, resume=_resume(parked, False, "too risky")), rec)
    assert done.status == "completed"
    assert rec.tool_ends[0].result == "denied by a reviewer: too risky"
    body = fake_openai.chat_requests()[1].json
    assert body["messages"][-1] == {"role": "tool", "tool_call_id": "call_calc",
                                    "content": "denied by a reviewer: too risky"}
