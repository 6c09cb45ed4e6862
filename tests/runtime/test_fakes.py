"""The fake servers themselves: non-stream replies, scripting, standalone process mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx
import openai

from agents.runtime.types import TextDelta
from tests.fakes import FakeReply, FakeToolCall
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

from .helpers import collect, openai_spec

ROOT = Path(__file__).resolve().parents[2]


async def test_openai_non_stream_reply(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(
        FakeReply(text="plain", tool_calls=[FakeToolCall("calculator", {"expression": "1+1"})])
    )
    client = openai.AsyncOpenAI(api_key="k", base_url=fake_openai.base_url, max_retries=0)
    reply = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "plain"
    tool_calls = reply.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].type == "function"
    assert tool_calls[0].function.name == "calculator"
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    default = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "echo me"}]
    )
    assert default.choices[0].message.content == "You said: echo me"
    await client.close()


async def test_anthropic_non_stream_reply(fake_anthropic: FakeAnthropicServer) -> None:
    client = anthropic.AsyncAnthropic(api_key="k", base_url=fake_anthropic.base_url, max_retries=0)
    reply = await client.messages.create(
        model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "echo me"}]
    )
    block = reply.content[0]
    assert block.type == "text" and block.text == "You said: echo me"
    assert reply.stop_reason == "end_turn"
    await client.close()


def test_sync_client_and_request_recording(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(text="sync works"))
    response = httpx.post(
        f"{fake_openai.base_url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        headers={"authorization": "Bearer abc"},
    )
    assert response.json()["choices"][0]["message"]["content"] == "sync works"
    recorded = fake_openai.requests[-1]
    assert recorded.json["model"] == "m" and recorded.headers["authorization"] == "Bearer abc"
    assert recorded.completed and fake_openai.pending == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_standalone_process_for_benchmarks(allow_loopback: None) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.openai_server",
            "--port",
            str(port),
            "--tokens",
            "50",
            "--ttft-ms",
            "50",
            "--itl-ms",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        spec = openai_spec(type("S", (), {"base_url": f"http://127.0.0.1:{port}/v1"}))
        started = time.monotonic()
        chunks = await collect(spec)
        assert time.monotonic() - started >= 0.05
        texts = [c.text for c in chunks if isinstance(c, TextDelta)]
        assert len(texts) == 50 and texts[0] == "tok0"
    finally:
        proc.terminate()
        proc.wait(5)
