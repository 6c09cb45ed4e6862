"""``remember`` and ``recall``: an agent's memory across sessions, as two tools of a run.

The tools are bound per run to a :class:`MemoryStore` (the chat app's, scoped to the
session's workspace, agent and subject), so the model can never name another subject.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .base import BuiltinTool, ToolError

MEMORY_TYPES = ("fact", "preference", "procedure", "semantic", "episodic")
MAX_MEMORY_CHARS = 2000


@dataclass(frozen=True)
class MemoryStore:
    """save(content, memory_type, importance) → stored text; search(query, limit) → lines."""

    save: Callable[[str, str, float], Awaitable[str]]
    search: Callable[[str, int], Awaitable[list[str]]]


def _remember_arguments(arguments: dict[str, Any]) -> tuple[str, str, float]:
    """(content, memory_type, importance) of a `remember` call, checked."""
    content = arguments.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ToolError("'content' must be a non-empty string")
    if len(content) > MAX_MEMORY_CHARS:
        raise ToolError(f"'content' is limited to {MAX_MEMORY_CHARS} characters")
    memory_type = arguments.get("memory_type") or "fact"
    if memory_type not in MEMORY_TYPES:
        raise ToolError(f"'memory_type' must be one of {', '.join(MEMORY_TYPES)}")
    importance = arguments.get("importance", 0.5)
    if isinstance(importance, bool) or not isinstance(importance, int | float) \
            or not 0 <= importance <= 1:
        raise ToolError("'importance' must be a number from 0 to 1")
    return content.strip(), memory_type, float(importance)


def _recall_arguments(arguments: dict[str, Any]) -> tuple[str, int]:
    """(query, limit) of a `recall` call, checked."""
    query = arguments.get("query") or ""
    if not isinstance(query, str):
        raise ToolError("'query' must be a string")
    limit = arguments.get("limit", 10)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise ToolError("'limit' must be an integer from 1 to 50")
    return query, limit


REMEMBER_PARAMETERS = {"type": "object", "properties": {
    "content": {"type": "string", "description": "What to remember, one fact."},
    "memory_type": {"type": "string", "enum": list(MEMORY_TYPES)},
    "importance": {"type": "number", "minimum": 0, "maximum": 1},
}, "required": ["content"]}

RECALL_PARAMETERS = {"type": "object", "properties": {
    "query": {"type": "string", "description": "Words to look for; empty: the most important "
                                               "memories."},
    "limit": {"type": "integer", "minimum": 1, "maximum": 50},
}, "required": []}


def _recall_summary(arguments: dict[str, Any], result: str) -> str:
    return f"{result.count(chr(10)) + 1} memories" if result.startswith("- ") else result[:200]


def memory_tools(store: MemoryStore) -> tuple[BuiltinTool, BuiltinTool]:
    async def remember(arguments: dict[str, Any]) -> str:
        saved = await store.save(*_remember_arguments(arguments))
        return f"Remembered: {saved}"

    async def recall(arguments: dict[str, Any]) -> str:
        found = await store.search(*_recall_arguments(arguments))
        return "\n".join(f"- {line}" for line in found) if found else "Nothing remembered."

    return (
        BuiltinTool(
            name="remember",
            description="Save something worth keeping for later conversations with this "
                        "user (a fact, preference or procedure).",
            parameters=REMEMBER_PARAMETERS, run=remember,
            summarize=lambda arguments, result: result[:200],
        ),
        BuiltinTool(
            name="recall",
            description="Search what was remembered in earlier conversations with this user.",
            parameters=RECALL_PARAMETERS, run=recall, summarize=_recall_summary,
        ),
    )
