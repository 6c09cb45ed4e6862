from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.runtime.providers import get_provider
from agents.runtime.types import (
    ContentEvent,
    Message,
    ModelRequest,
    ModelSpec,
    ProviderChunk,
    RunEvent,
    ThinkingEvent,
    ToolEndEvent,
    ToolStartEvent,
)


@dataclass
class Recorder:
    events: list[RunEvent] = field(default_factory=list)

    async def __call__(self, event: RunEvent) -> None:
        self.events.append(event)

    @property
    def content(self) -> str:
        return "".join(e.content for e in self.events if isinstance(e, ContentEvent))

    @property
    def thinking(self) -> str:
        return "".join(e.content for e in self.events if isinstance(e, ThinkingEvent))

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def tool_starts(self) -> list[ToolStartEvent]:
        return self.of(ToolStartEvent)

    @property
    def tool_ends(self) -> list[ToolEndEvent]:
        return self.of(ToolEndEvent)


def openai_spec(server: Any, model_id: str = "gpt-4o-mini", **kw: Any) -> ModelSpec:
    return ModelSpec(
        provider="openai", model_id=model_id, api_key="sk-test", base_url=server.base_url, **kw
    )


def anthropic_spec(server: Any, model_id: str = "claude-test", **kw: Any) -> ModelSpec:
    return ModelSpec(
        provider="anthropic",
        model_id=model_id,
        api_key="sk-ant-test",
        base_url=server.base_url,
        **kw,
    )


async def collect(spec: ModelSpec, text: str = "hi there", **kw: Any) -> list[ProviderChunk]:
    request = ModelRequest(
        model=spec, system="You are terse.", messages=(Message(role="user", content=text),), **kw
    )
    return [chunk async for chunk in get_provider(spec.provider).stream(request)]
