"""Server-Sent Events framing (docs/api.md §4): id, event, one compact data line, LF only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse

from executions.follow import KEEPALIVE, follow_batches

KEEPALIVE_FRAME = b": keepalive\n\n"


def frame(event: dict[str, Any]) -> bytes:
    body = {k: v for k, v in event.items() if k != "seq"}
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n".encode()


async def frames(batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """One chunk per batch: a burst of tokens leaves in one write."""
    async for batch in batches:
        yield b"".join(KEEPALIVE_FRAME if event is KEEPALIVE else frame(event)
                       for event in batch)


def sse_response(execution_id: str, after: int = 0) -> StreamingHttpResponse:
    """Follow an execution as Server-Sent Events (replay, then live, then close)."""
    batches = follow_batches(execution_id, after, spacing=settings.SSE_SPACING_SECONDS)
    response = StreamingHttpResponse(frames(batches), content_type="text/event-stream")
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
