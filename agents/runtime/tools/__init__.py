"""Built-in tools the agent loop can offer to models."""

from __future__ import annotations

from .base import BuiltinTool, ToolError
from .calculator import CALCULATOR, evaluate_expression
from .clock import CURRENT_TIME

BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    CALCULATOR.name: CALCULATOR,
    CURRENT_TIME.name: CURRENT_TIME,
}

__all__ = ["BUILTIN_TOOLS", "BuiltinTool", "ToolError", "evaluate_expression"]
