"""Safe arithmetic by walking the ``ast`` (never ``eval``)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from .base import BuiltinTool, ToolError

MAX_EXPRESSION_LENGTH = 500
MAX_EXPONENT = 1000
MAX_ABS_RESULT = 1e100
MAX_DEPTH = 50

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _check(value: Number) -> Number:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ToolError("result is not a finite number")
    if abs(value) > MAX_ABS_RESULT:
        raise ToolError("result is too large")
    return value


def _eval(node: ast.AST, depth: int = 0) -> Number:
    if depth > MAX_DEPTH:
        raise ToolError("expression is nested too deeply")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolError(f"unsupported constant: {node.value!r}")
        return _check(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _eval(node.operand, depth + 1)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _eval(node.left, depth + 1)
        right = _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise ToolError(f"exponent too large (max {MAX_EXPONENT})")
            if abs(left) > 1 and abs(right) * math.log10(abs(left)) > 100:
                raise ToolError("result is too large")
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise ToolError("division by zero")
        try:
            result = _BINARY[type(node.op)](left, right)
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise ToolError(str(exc) or type(exc).__name__) from None
        if isinstance(result, complex):
            raise ToolError("result is not a real number")
        return _check(result)
    raise ToolError(f"unsupported syntax: {type(node).__name__}")


def evaluate_expression(expression: str) -> Number:
    """Evaluate an arithmetic expression: numbers, + - * / // % **, unary -, parens."""
    if not isinstance(expression, str) or not expression.strip():
        raise ToolError("expression must be a non-empty string")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolError("expression is too long")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolError(f"invalid expression: {expression!r}") from None
    return _eval(tree)


def format_number(value: Number) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return repr(round(value, 12))
    return str(value)


async def _run(arguments: dict[str, Any]) -> str:
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        raise ToolError("missing required argument 'expression' (string)")
    return format_number(evaluate_expression(expression))


def _summarize(arguments: dict[str, Any], result: str) -> str:
    return f"{arguments.get('expression', '?')} = {result}"


CALCULATOR = BuiltinTool(
    name="calculator",
    description=(
        "Evaluate an arithmetic expression exactly. Supports numbers, + - * / // % ** "
        "and parentheses."
    ),
    parameters={
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "Arithmetic expression, e.g. 12*(3+4)",
            }
        },
        "required": ["expression"],
    },
    run=_run,
    summarize=_summarize,
)
