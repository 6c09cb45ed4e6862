from __future__ import annotations

from typing import Any

import pytest

from agents.runtime.providers import get_provider
from agents.runtime.providers.local import find_expression, find_timezone
from agents.runtime.tools import BUILTIN_TOOLS
from agents.runtime.types import (
    Finish,
    Message,
    ModelRequest,
    ModelSpec,
    ProviderChunk,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

SPEC = ModelSpec("local", "echo")
TOOLS = tuple(t.spec() for t in BUILTIN_TOOLS.values())


async def _run(
    messages: list[Message], tools: tuple[ToolSpec, ...] = (), **kw: Any
) -> list[ProviderChunk]:
    request = ModelRequest(model=SPEC, system="sys", messages=tuple(messages), tools=tools, **kw)
    return [c async for c in get_provider("local").stream(request)]


def _text(chunks: list[ProviderChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


async def test_first_turn_echo() -> None:
    chunks = await _run([Message("user", "hello there")])
    assert _text(chunks) == 'Turn 1. You said: "hello there"'
    assert len([c for c in chunks if isinstance(c, TextDelta)]) == 6  # word by word
    usage = next(c for c in chunks if isinstance(c, Usage))
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert chunks[-1] == Finish("stop")


async def test_history_aware() -> None:
    history = [
        Message("user", "my name is Ada"),
        Message("assistant", "hi"),
        Message("user", "I like tea"),
        Message("assistant", "ok"),
        Message("user", "what do I like?"),
    ]
    chunks = await _run(history)
    assert _text(chunks) == 'Turn 3. Earlier you said: "I like tea". You said: "what do I like?"'
    assert chunks == await _run(history)  # deterministic


async def test_calls_calculator_without_narration_then_answers() -> None:
    chunks = await _run([Message("user", "what is 12*(3+4)?")], TOOLS)
    assert chunks[0] == ToolCall("call_local_1_0", "calculator", {"expression": "12*(3+4)"})
    assert _text(chunks) == ""
    assert chunks[-1] == Finish("tool_calls")
    follow = [
        Message("user", "what is 12*(3+4)?"),
        Message("assistant", "", tool_calls=(chunks[0],)),
        Message("tool", "84", tool_call_id="call_local_1_0", name="calculator"),
    ]
    assert _text(await _run(follow, TOOLS)) == "Turn 1. The calculator says 12*(3+4) = 84."


async def test_without_tools_offered_it_just_echoes() -> None:
    chunks = await _run([Message("user", "what is 12*(3+4)?")])
    assert not [c for c in chunks if isinstance(c, ToolCall)]


async def test_calls_current_time_with_zone() -> None:
    chunks = await _run([Message("user", "what's the time in Europe/Paris and 2+2?")], TOOLS)
    calls = [c for c in chunks if isinstance(c, ToolCall)]
    assert [c.name for c in calls] == ["calculator", "current_time"]
    assert calls[1].arguments == {"timezone": "Europe/Paris"}


async def test_reports_tool_errors() -> None:
    call = ToolCall("c", "current_time", {"timezone": "Mars/X"})
    chunks = await _run(
        [
            Message("user", "time on Mars/X?"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "Error: unknown timezone", tool_call_id="c", name="current_time"),
        ],
        TOOLS,
    )
    assert "The current_time tool failed: Error: unknown timezone" in _text(chunks)


def test_expression_and_zone_detection() -> None:
    assert find_expression("what is 12*(3+4)?") == "12*(3+4)"
    assert find_expression("compute (2+3) * 4 please") == "(2+3) * 4"
    assert find_expression("I have 3 cats") is None
    assert find_timezone("clock in America/New_York now") == "America/New_York"
    assert find_timezone("what time is it") == "UTC"


async def test_delay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("PROMPTRAILS_LOCAL_MODEL_DELAY", "0.01")
    started = time.monotonic()
    await _run([Message("user", "a b c d e")])
    assert time.monotonic() - started >= 0.05
