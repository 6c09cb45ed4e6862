from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..types import ToolSpec


class ToolError(Exception):
    """A tool failed in an expected way; the message is fed back to the model."""


class Tool(Protocol):
    """What the loop calls: a name offered to the model, its schema, and a callable.

    Built-in functions and MCP calls alike: ``run(arguments)`` returns the result text or
    raises :class:`ToolError` (the model sees the message as an error result). The loop
    knows no transport; ``timeout`` (seconds, per call) and ``kind``/``attributes`` (for
    the trace) are all it reads besides.
    """

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def parameters(self) -> dict[str, Any]: ...
    @property
    def run(self) -> Callable[[dict[str, Any]], Awaitable[str]]: ...
    @property
    def summarize(self) -> Callable[[dict[str, Any], str], str]: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def attributes(self) -> dict[str, Any]: ...

    def spec(self) -> ToolSpec: ...


@dataclass(frozen=True)
class BuiltinTool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema
    run: Callable[[dict[str, Any]], Awaitable[str]]
    summarize: Callable[[dict[str, Any], str], str]
    timeout: float | None = None  # the loop's default
    kind: str = "builtin"
    attributes: dict[str, Any] = field(default_factory=dict, compare=False)

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)
