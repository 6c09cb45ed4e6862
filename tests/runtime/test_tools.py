from __future__ import annotations

import pytest

from agents.runtime.tools import BUILTIN_TOOLS, ToolError, evaluate_expression

calculator = BUILTIN_TOOLS["calculator"]
current_time = BUILTIN_TOOLS["current_time"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("12*(3+4)", "84"),
        ("-5 + 3", "-2"),
        ("7 // 2", "3"),
        ("7 % 4", "3"),
        ("2 ** 10", "1024"),
        ("1/4", "0.25"),
        ("10/4*2", "5"),
        ("-(2+3)**2", "-25"),
        ("1.5e3 + 1", "1501"),
        ("0.1 + 0.2", "0.3"),
    ],
)
async def test_calculator(expression: str, expected: str) -> None:
    assert await calculator.run({"expression": expression}) == expected
    assert (
        calculator.summarize({"expression": expression}, expected) == f"{expression} = {expected}"
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "unsupported"),
        ("().__class__.__bases__", "unsupported"),
        ("os.system('ls')", "unsupported"),
        ("x + 1", "unsupported"),
        ("'a' * 3", "unsupported"),
        ("True + 1", "unsupported"),
        ("[1, 2]", "unsupported"),
        ("lambda: 1", "unsupported"),
        ("1/0", "division by zero"),
        ("5 // 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("2 ** 100000", "exponent too large"),
        ("9 ** 999", "too large"),
        ("10 ** 99 * 10 ** 99", "too large"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +", "invalid expression"),
        ("", "non-empty"),
        ("1+" * 400 + "1", "too long"),
    ],
)
def test_calculator_refuses(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        evaluate_expression(expression)


async def test_calculator_missing_argument() -> None:
    with pytest.raises(ToolError, match="expression"):
        await calculator.run({})


async def test_current_time() -> None:
    result = await current_time.run({"timezone": "Europe/Paris"})
    assert "Europe/Paris" in result and ("+01:00" in result or "+02:00" in result)
    assert "+00:00" in await current_time.run({})
    assert current_time.summarize({"timezone": "UTC"}, result).startswith("UTC: ")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", 5])
async def test_current_time_bad_zone(zone: str | int) -> None:
    if zone == "":
        assert "UTC" in await current_time.run({"timezone": zone})
        return
    with pytest.raises(ToolError):
        await current_time.run({"timezone": zone})


def test_tool_specs_are_json_schemas() -> None:
    for tool in BUILTIN_TOOLS.values():
        spec = tool.spec()
        assert spec.name == tool.name and spec.parameters["type"] == "object"
