from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.runtime.context_window import (
    MESSAGE_OVERHEAD,
    estimate_tokens,
    fit_history,
    history_budget,
    message_tokens,
)
from agents.runtime.pricing import cost_for
from agents.runtime.types import (
    Message,
    ModelSpec,
    ToolCall,
    Usage,
)


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert message_tokens(Message("user", "x" * 40)) == 10 + MESSAGE_OVERHEAD


def test_fit_history_is_lazy_and_oldest_first() -> None:
    messages = [
        Message("user" if i % 2 == 0 else "assistant", f"m{i:02d}" + "x" * 36) for i in range(10)
    ]
    per = message_tokens(messages[0])  # 10 + overhead
    pulled = 0

    def newest_first() -> Iterator[Message]:
        nonlocal pulled
        for m in reversed(messages):
            pulled += 1
            yield m

    fitted = fit_history(newest_first(), per * 3 + 1)
    assert fitted == messages[-3:]
    assert pulled == 4  # three fitted + the one that did not fit; nothing more consumed


def test_fit_history_everything_fits_and_zero_budget() -> None:
    messages = [Message("user", "hi"), Message("assistant", "hello")]
    assert fit_history(reversed(messages), 10_000) == messages
    assert fit_history(reversed(messages), 0) == []


def test_fit_history_drops_dangling_tool_messages() -> None:
    call = ToolCall("c1", "calculator", {"expression": "1+1"})
    messages = [
        Message("user", "q" * 400),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "2", tool_call_id="c1", name="calculator"),
        Message("assistant", "It is 2."),
        Message("user", "thanks"),
    ]
    tail = messages[2:]
    budget = sum(message_tokens(m) for m in tail)
    fitted = fit_history(reversed(messages), budget)
    assert fitted == messages[3:]  # the tool result without its call is dropped


def test_history_budget() -> None:
    spec = ModelSpec("local", "echo", context_window=1000, max_output_tokens=200)
    assert history_budget(spec, None, "", "") == 1000 - 200 - MESSAGE_OVERHEAD - MESSAGE_OVERHEAD
    assert history_budget(spec, 100, "s" * 40, "u" * 80) == 1000 - 100 - (10 + 4) - (20 + 4)
    assert history_budget(spec, 5000, "", "") == 0


def test_cost_for() -> None:
    spec = ModelSpec(
        "openai", "gpt-4o", input_price=2.5, output_price=10.0, cached_input_price=1.25
    )
    usage = Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=400)
    expected = (600 * 2.5 + 400 * 1.25 + 500 * 10.0) / 1e6
    assert cost_for(usage, spec) == pytest.approx(expected)
    assert cost_for(usage, spec) == round(expected, 8)
    no_cache_price = ModelSpec("openai", "x", input_price=2.5, output_price=10.0)
    assert cost_for(usage, no_cache_price) == round((1000 * 2.5 + 500 * 10.0) / 1e6, 8)
    assert cost_for(Usage(), spec) == 0.0
    assert cost_for(Usage(1, 1), ModelSpec("local", "echo")) == 0.0


def test_usage_add_and_total() -> None:
    a = Usage(10, 5, cached_tokens=2, reasoning_tokens=1, cache_creation_tokens=3)
    b = Usage(1, 2, 3, 4, 5)
    assert a + b == Usage(11, 7, 5, 5, 8)
    assert (a + b).total_tokens == 18
