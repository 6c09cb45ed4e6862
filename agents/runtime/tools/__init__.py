"""Tools the agent loop can offer to models: the built-ins, and the registry of a run."""

from __future__ import annotations

from .base import BuiltinTool, Tool, ToolError
from .calculator import CALCULATOR, evaluate_expression
from .clock import CURRENT_TIME
from .registry import TOOL_NAME_MAX, ToolRef, build_registry, valid_tool_name

BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    CALCULATOR.name: CALCULATOR,
    CURRENT_TIME.name: CURRENT_TIME,
}

__all__ = ["BUILTIN_TOOLS", "TOOL_NAME_MAX", "BuiltinTool", "Tool", "ToolError", "ToolRef",
           "build_registry", "evaluate_expression", "valid_tool_name"]
