"""The tools of one run: the names offered to the model mapped to :class:`Tool` callables.

An agent run lists its tools as built-in names (``"calculator"``) or ready :class:`Tool`
objects (an MCP server's tools, bound by ``agents.mcp.binding``); the loop looks calls up
here and never knows what is behind a name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from .base import Tool

# Both providers' rule for tool names: OpenAI ^[a-zA-Z0-9_-]{1,64}$ (Anthropic allows
# 128), so names offered to a model stay within the stricter one.
TOOL_NAME_MAX = 64
_INVALID = re.compile(r"[^A-Za-z0-9_-]+")

ToolRef = str | Tool


def valid_tool_name(raw: str, taken: Iterable[str] = (), prefix: str = "") -> str:
    """``raw`` made a valid tool name for both providers and unique among ``taken``:
    invalid characters become ``_``; on a clash ``prefix`` is put in front, then a short
    hash of the original is appended; always at most :data:`TOOL_NAME_MAX` characters."""
    used = set(taken)
    base = _INVALID.sub("_", raw).strip("_") or "tool"
    candidates = [base]
    if prefix:
        candidates.append(f"{_INVALID.sub('_', prefix).strip('_') or 'mcp'}_{base}")
    for candidate in candidates:
        candidate = candidate[:TOOL_NAME_MAX]
        if candidate not in used:
            return candidate
    digest = hashlib.sha256(f"{prefix}/{raw}".encode()).hexdigest()
    n = 6
    while True:
        candidate = f"{candidates[-1][:TOOL_NAME_MAX - n - 1]}_{digest[:n]}"
        if candidate not in used:
            return candidate
        n += 1


def build_registry(refs: Iterable[ToolRef], builtins: Mapping[str, Tool]) -> dict[str, Tool]:
    """Name → tool for a run: built-in names looked up (unknown ones skipped), tool
    objects kept under their own name (the first of a name wins)."""
    registry: dict[str, Tool] = {}
    for ref in refs:
        tool = builtins.get(ref) if isinstance(ref, str) else ref
        if tool is not None and tool.name not in registry:
            registry[tool.name] = tool
    return registry
