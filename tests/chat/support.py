"""Helpers for chat and streaming tests: agents on fake providers, raw SSE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from agents.models import Agent, LLMModel
from agents.services import agent_create, agent_version_create, prompt_create
from promptrails.models import Workspace


def fake_openai_agent(*, workspace: Workspace, base_url: str, name: str = "Fake GPT bot",
                      model_id: str = "fake-gpt") -> Agent:
    """An agent whose current version runs on an OpenAI-compatible fake server."""
    LLMModel.objects.update_or_create(
        provider="openai", model_id=model_id,
        defaults={"display_name": "Fake GPT", "base_url": base_url, "max_tokens": 32000,
                  "input_price": 1.0, "output_price": 2.0},
    )
    prompt = prompt_create(
        workspace=workspace, name=f"{name} prompt",
        initial_version={"system_prompt": "You are a test bot.", "user_prompt": "",
                         "version": "1.0.0", "message": "test"},
    )
    agent = agent_create(workspace=workspace, name=name)
    agent_version_create(
        agent=agent, config={"type": "agent", "prompt_id": prompt.pk}, set_current=True,
        model_config={"model_id": model_id},
    )
    return agent


@dataclass
class Frame:
    """One SSE frame as sent on the wire."""

    raw: str
    id: int | None
    event: str | None
    data_lines: list[str]
    comment: bool

    @property
    def data(self) -> dict[str, Any]:
        assert len(self.data_lines) == 1, self.raw
        value = json.loads(self.data_lines[0])
        assert isinstance(value, dict), self.raw
        return value


def parse_frames(text: str) -> list[Frame]:
    """Split an SSE body into frames (blank-line separated), keeping everything raw."""
    frames = []
    for block in text.split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        frame_id: int | None = None
        event: str | None = None
        data: list[str] = []
        comment = all(line.startswith(":") for line in lines)
        for line in lines:
            if line.startswith("id: "):
                frame_id = int(line[4:])
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        frames.append(Frame(raw=block, id=frame_id, event=event, data_lines=data,
                            comment=comment))
    return frames


def events_of(frames: list[Frame]) -> list[dict[str, Any]]:
    """Non-comment frames as {"seq", **data}."""
    return [{"seq": f.id, **f.data} for f in frames if not f.comment]


class SSEReader:
    """Read an httpx streaming response frame by frame (so a test can stop early)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.raw = b""
        self._buffer = ""
        self._chunks = response.iter_bytes()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            while "\n\n" not in self._buffer:
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    return
                self.raw += chunk
                self._buffer += chunk.decode()
            block, self._buffer = self._buffer.split("\n\n", 1)
            yield parse_frames(block + "\n\n")[0]


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, "Content-Type": "application/json", **extra}


def stream_send(base_url: str, key: str, session_id: str, content: str,
                timeout: float = 30.0) -> tuple[httpx.Response, bytes]:
    """POST …/messages/stream and read the whole body."""
    with httpx.Client(timeout=timeout) as client, client.stream(
        "POST", f"{base_url}/api/v1/chat/sessions/{session_id}/messages/stream",
        headers=headers(key, Accept="text/event-stream"), json={"content": content},
    ) as response:
        body = response.read()
    return response, body


def follow_execution(base_url: str, key: str, execution_id: str, last_event_id: int | None = None,
                     timeout: float = 30.0) -> tuple[httpx.Response, bytes]:
    extra = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    with httpx.Client(timeout=timeout) as client, client.stream(
        "GET", f"{base_url}/api/v1/executions/{execution_id}/stream",
        headers={"X-API-Key": key, "Accept": "text/event-stream", **extra},
    ) as response:
        body = response.read()
    return response, body
