"""Current time in an IANA timezone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import BuiltinTool, ToolError


async def _run(arguments: dict[str, Any]) -> str:
    name = arguments.get("timezone") or "UTC"
    if not isinstance(name, str):
        raise ToolError("'timezone' must be a string")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown timezone: {name!r} (use an IANA name like Europe/Paris)"
        ) from None
    now = datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({name}, {now.strftime('%A')})"


def _summarize(arguments: dict[str, Any], result: str) -> str:
    return f"{arguments.get('timezone') or 'UTC'}: {result.split(' (')[0]}"


CURRENT_TIME = BuiltinTool(
    name="current_time",
    description="Get the current date and time in an IANA timezone (default UTC).",
    parameters={
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "IANA timezone name, e.g. Europe/Paris. Defaults to UTC.",
            }
        },
        "required": [],
    },
    run=_run,
    summarize=_summarize,
)
