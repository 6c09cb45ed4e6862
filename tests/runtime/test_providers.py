"""Providers through the official SDKs against the fake servers (real wire formats)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.runtime.providers import check_credentials, get_provider
from agents.runtime.providers.openai import sse_data
from agents.runtime.types import (
    Finish,
    Message,
    ModelRequest,
    ModelSpec,
    ProviderChunk,
    ProviderError,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from tests.fakes import FakeReply, FakeToolCall
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

from .helpers import anthropic_spec, collect, openai_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _texts(chunks: list[ProviderChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


# --- recorded fixtures, served byte-exactly ------------------------------------------


@pytest.mark.parametrize("piece", [1, 17, 4096])
async def test_openai_recorded_tool_call_fixture(fake_openai: FakeOpenAIServer, piece: int) -> None:
    raw = (FIXTURES / "openai_chat_tool_call.sse").read_bytes()
    fake_openai.enqueue(FakeReply(raw=raw, raw_piece_size=piece))
    chunks = await collect(openai_spec(fake_openai))
    assert chunks == [
        ToolCall(
            id="call_2NCpRQ3wEuK4kOH1budBUmZv",
            name="get_weather",
            arguments={"city": "New York City"},
        ),
        Usage(prompt_tokens=44, completion_tokens=16, cached_tokens=0, reasoning_tokens=0),
        Finish("tool_calls"),
    ]


async def test_anthropic_recorded_text_fixture(fake_anthropic: FakeAnthropicServer) -> None:
    raw = (FIXTURES / "anthropic_messages_text.sse").read_bytes()
    fake_anthropic.enqueue(FakeReply(raw=raw, raw_piece_size=5))
    chunks = await collect(anthropic_spec(fake_anthropic))
    assert chunks == [
        TextDelta("Hello"),
        TextDelta(" there"),
        TextDelta("!"),
        Usage(prompt_tokens=11, completion_tokens=6),
        Finish("end_turn"),
    ]


async def test_anthropic_recorded_tool_use_fixture(fake_anthropic: FakeAnthropicServer) -> None:
    raw = (FIXTURES / "anthropic_messages_tool_use.sse").read_bytes()
    fake_anthropic.enqueue(FakeReply(raw=raw))
    chunks = await collect(anthropic_spec(fake_anthropic))
    assert _texts(chunks) == "I'll check the current weather in Paris for you."
    calls = [c for c in chunks if isinstance(c, ToolCall)]
    assert calls == [
        ToolCall(
            id="toolu_01NRLabsLyVHZPKxbKvkfSMn", name="get_weather", arguments={"location": "Paris"}
        )
    ]
    usage = next(c for c in chunks if isinstance(c, Usage))
    assert usage == Usage(
        prompt_tokens=377, completion_tokens=65, cached_tokens=0, cache_creation_tokens=0
    )
    assert chunks[-1] == Finish("tool_use")


# --- generated streams ----------------------------------------------------------------


async def test_openai_plain_reply_and_request_shape(fake_openai: FakeOpenAIServer) -> None:
    chunks = await collect(openai_spec(fake_openai), "hello world", temperature=0.2, max_tokens=50)
    assert _texts(chunks) == "You said: hello world"
    assert len([c for c in chunks if isinstance(c, TextDelta)]) == 4
    assert chunks[-1] == Finish("stop")
    body = fake_openai.chat_requests()[-1].json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 50  # compatible server (base_url set) → max_tokens
    assert fake_openai.chat_requests()[-1].headers["authorization"] == "Bearer sk-test"


async def test_anthropic_plain_reply_and_request_shape(fake_anthropic: FakeAnthropicServer) -> None:
    spec = anthropic_spec(fake_anthropic, max_output_tokens=321)
    chunks = await collect(spec, "hello world")
    assert _texts(chunks) == "You said: hello world"
    assert chunks[-1] == Finish("end_turn")
    body = fake_anthropic.chat_requests()[-1].json
    assert body["system"] == "You are terse."
    assert body["max_tokens"] == 321
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hello world"}]}
    ]


async def test_openai_thinking_tool_calls_and_cached_usage(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(
        FakeReply(
            thinking="Let me compute.",
            text="Sure.",
            tool_calls=[
                FakeToolCall("calculator", {"expression": "12*(3+4)"}, id="call_a"),
                FakeToolCall("current_time", {"timezone": "Europe/Paris"}, id="call_b"),
            ],
            prompt_tokens=100,
            completion_tokens=20,
            cached_tokens=60,
            reasoning_tokens=7,
        )
    )
    chunks = await collect(openai_spec(fake_openai))
    assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == "Let me compute."
    assert _texts(chunks) == "Sure."
    assert [c for c in chunks if isinstance(c, ToolCall)] == [
        ToolCall("call_a", "calculator", {"expression": "12*(3+4)"}),
        ToolCall("call_b", "current_time", {"timezone": "Europe/Paris"}),
    ]
    assert Usage(100, 20, cached_tokens=60, reasoning_tokens=7) in chunks
    assert chunks[-1] == Finish("tool_calls")


async def test_anthropic_thinking_tool_use_and_cache_usage(
    fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.enqueue(
        FakeReply(
            thinking="Let me compute.",
            text="Sure.",
            tool_calls=[FakeToolCall("calculator", {"expression": "2**10"}, id="toolu_1")],
            prompt_tokens=10,
            completion_tokens=30,
            cached_tokens=500,
            cache_creation_tokens=40,
        )
    )
    chunks = await collect(anthropic_spec(fake_anthropic))
    assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == "Let me compute."
    assert _texts(chunks) == "Sure."
    assert ToolCall("toolu_1", "calculator", {"expression": "2**10"}) in chunks
    # prompt_tokens normalised to include cache reads and writes
    assert Usage(550, 30, cached_tokens=500, cache_creation_tokens=40) in chunks
    assert chunks[-1] == Finish("tool_use")


def _history() -> tuple[Message, ...]:
    call = ToolCall("call_1", "calculator", {"expression": "1+1"})
    return (
        Message("user", "what is 1+1?"),
        Message("assistant", "Let me check.", tool_calls=(call,)),
        Message("tool", "2", tool_call_id="call_1", name="calculator"),
        Message("assistant", "It is 2."),
        Message("user", "thanks"),
        Message("user", "and again?"),
    )


async def _drain(spec: ModelSpec, messages: tuple[Message, ...]) -> None:
    tools = (ToolSpec("calculator", "calc", {"type": "object", "properties": {}}),)
    request = ModelRequest(model=spec, system="sys", messages=messages, tools=tools)
    async for _ in get_provider(spec.provider).stream(request):
        pass


async def test_openai_history_mapping(fake_openai: FakeOpenAIServer) -> None:
    await _drain(openai_spec(fake_openai), _history())
    body = fake_openai.chat_requests()[-1].json
    assert body["tools"][0]["type"] == "function"
    assert body["tools"][0]["function"]["name"] == "calculator"
    msgs = body["messages"]
    assert msgs[2]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "calculator", "arguments": '{"expression": "1+1"}'},
        }
    ]
    assert msgs[3] == {"role": "tool", "tool_call_id": "call_1", "content": "2"}
    assert [m["role"] for m in msgs] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "user",
    ]


async def test_anthropic_history_mapping(fake_anthropic: FakeAnthropicServer) -> None:
    await _drain(anthropic_spec(fake_anthropic), _history())
    body = fake_anthropic.chat_requests()[-1].json
    assert body["tools"] == [
        {
            "name": "calculator",
            "description": "calc",
            "input_schema": {"type": "object", "properties": {}},
        }
    ]
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "calculator", "input": {"expression": "1+1"}},
    ]
    assert msgs[2]["content"] == [{"type": "tool_result", "tool_use_id": "call_1", "content": "2"}]
    # consecutive user messages merged
    assert [b["text"] for b in msgs[4]["content"]] == ["thanks", "and again?"]


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("fault", "retryable", "status"),
    [
        ("http_500", True, 500),
        ("http_429", True, 429),
        ("http_400", False, 400),
        ("http_401", False, 401),
    ],
)
async def test_http_errors_are_mapped(
    which: str,
    fault: str,
    retryable: bool,
    status: int,
    fake_openai: FakeOpenAIServer,
    fake_anthropic: FakeAnthropicServer,
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = openai_spec(server) if which == "openai" else anthropic_spec(server)
    server.enqueue(FakeReply(fault=fault, retry_after=3))
    with pytest.raises(ProviderError) as info:
        await collect(spec)
    assert info.value.status_code == status
    assert info.value.retryable is retryable
    assert info.value.retry_after == (3.0 if status == 429 else None)


@pytest.mark.parametrize("which", ["openai", "anthropic"])
@pytest.mark.parametrize("fault", ["malformed_chunk", "reset", "error_event"])
async def test_mid_stream_faults_become_provider_errors(
    which: str, fault: str, fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    server = fake_openai if which == "openai" else fake_anthropic
    spec = openai_spec(server) if which == "openai" else anthropic_spec(server)
    server.enqueue(FakeReply(text="one two three", fault=fault, fault_after=2))
    seen = []
    with pytest.raises(ProviderError) as info:
        async for chunk in get_provider(spec.provider).stream(
            ModelRequest(model=spec, system="", messages=(Message("user", "x"),))
        ):
            seen.append(chunk)
    assert _texts(seen) == "one two"
    assert ("malformed" in info.value.message) == (fault == "malformed_chunk")
    if fault == "error_event":  # the provider's own words reach the execution's error
        expected = "had an error while processing" if which == "openai" else "Overloaded"
        assert expected in info.value.message, info.value.message


@pytest.mark.parametrize("split", [None, 1, 2, 3, 7])
async def test_sse_data_follows_the_event_stream_format(split: int | None) -> None:
    body = (b": keepalive comment\n\nevent: x\r\ndata: one\r\n\r\ndata:two\ndata: three\n"
            b"\nid: 7\r\rdata: caf\xc3\xa9\n\ndata: [DONE]")

    async def chunks() -> AsyncIterator[bytes]:  # as they may arrive, split anywhere
        step = split or len(body)
        for start in range(0, len(body), step):
            yield body[start:start + step]

    got = [d async for d in sse_data(chunks())]
    # a last event without a blank line counts; CRLF, CR and LF end lines alike
    assert got == ["one", "two\nthree", "café", "[DONE]"]


async def test_openai_timeout_before_first_byte(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(fault="stall", fault_after=0, stall_seconds=5))
    with pytest.raises(ProviderError) as info:
        await collect(openai_spec(fake_openai), timeout=0.3)
    assert info.value.retryable and "timed out" in info.value.message


async def test_connection_refused_is_retryable(allow_loopback: None) -> None:
    spec = ModelSpec("openai", "gpt-4o", api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError) as info:
        await collect(spec, timeout=2)
    assert info.value.retryable


async def test_invalid_tool_arguments_are_marked(fake_openai: FakeOpenAIServer) -> None:
    raw = (FIXTURES / "openai_chat_tool_call.sse").read_bytes().replace(b'" City', b'" Ci\\\\ty')
    raw = raw.replace(b'"\\"}"', b'"\\""')  # drop the closing brace
    fake_openai.enqueue(FakeReply(raw=raw))
    chunks = await collect(openai_spec(fake_openai))
    call = next(c for c in chunks if isinstance(c, ToolCall))
    assert "__invalid_json__" in call.arguments


# --- credentials -----------------------------------------------------------------------


async def test_check_credentials(
    fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_openai.api_key = "sk-test"
    fake_anthropic.api_key = "sk-ant-test"
    assert await check_credentials(openai_spec(fake_openai)) == (True, None)
    assert await check_credentials(anthropic_spec(fake_anthropic)) == (True, None)
    assert await check_credentials(ModelSpec("local", "echo")) == (True, None)
    bad = ModelSpec("openai", "gpt-4o", api_key="wrong", base_url=fake_openai.base_url)
    ok, error = await check_credentials(bad)
    assert not ok and "401" in (error or "")
    bad = ModelSpec("anthropic", "c", api_key="wrong", base_url=fake_anthropic.base_url)
    ok, error = await check_credentials(bad)
    assert not ok and "401" in (error or "")
    assert fake_openai.requests[0].path == "/v1/models"


def test_get_provider_unknown() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        get_provider("nope")


# --- connection reuse -----------------------------------------------------------------


@pytest.fixture
def keepalive_model(allow_loopback: None) -> Iterator[tuple[Any, Any]]:
    """The benchmarks' fake model (HTTP/1.1 keep-alive, OpenAI wire format) on a thread."""
    import asyncio
    import threading

    from bench import fake_model

    config = fake_model.Config(tokens=3, ttft=0.0, itl=0.0)
    sock = fake_model._listener("127.0.0.1", 0)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        server = await loop.create_server(lambda: fake_model.Protocol(config), sock=sock)
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()

    class Server:
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    yield Server, config
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    loop.close()


async def test_openai_stream_keeps_the_upstream_connection_alive(
    keepalive_model: tuple[Any, Any]
) -> None:
    # Reading stops at `data: [DONE]`; the rest of the body is read too, so the pooled
    # connection is reused by the next turn instead of a new TCP connection per turn.
    server, config = keepalive_model
    for _ in range(3):
        chunks = await collect(openai_spec(server, model_id="bench-model"))
        assert _texts(chunks) == "tok0 tok1 tok2 " and chunks[-1] == Finish("stop")
    assert config.connections == 1
