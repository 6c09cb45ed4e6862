from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..types import ToolSpec


class ToolError(Exception):
    """A tool failed in an expected way; the message is fed back to the model."""


@dataclass(frozen=True)
class BuiltinTool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema
    run: Callable[[dict[str, Any]], Awaitable[str]]
    summarize: Callable[[dict[str, Any], str], str]

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)
