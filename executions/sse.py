"""Server-Sent Events framing (API.md §4): id, event, one compact data line, LF only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse

from executions.follow import KEEPALIVE


def frame(event: dict[str, Any]) -> bytes:
    body = {k: v for k, v in event.items() if k != "seq"}
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n".encode()


async def frames(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for event in events:
        if event is KEEPALIVE or event.get("type") == KEEPALIVE["type"]:
            yield b": keepalive\n\n"
        else:
            yield frame(event)


def sse_response(events: AsyncIterator[dict[str, Any]]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(frames(events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def last_event_id(header: str | None, query: str | None) -> int:
    for raw in (header, query):
        if raw:
            try:
                return max(int(raw.strip()), 0)
            except ValueError:
                continue
    return 0
