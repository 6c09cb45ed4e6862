"""The event bus: the Channels layer (in-memory by default, Redis with REDIS_URL).

Groups: ``exec.<id>`` carries an execution's events, ``execctl.<id>`` its control
messages (cancel), ``session.<id>`` everything a WebSocket client of a session sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import get_channel_layer


def execution_group(execution_id: str) -> str:
    return f"exec.{execution_id}"


def control_group(execution_id: str) -> str:
    return f"execctl.{execution_id}"


def session_group(session_id: str) -> str:
    return f"session.{session_id}"


def _layer() -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("No channel layer is configured")
    return layer


async def publish(group: str, message: dict[str, Any]) -> None:
    """Send one message to every subscriber of a group; bus hiccups never break a turn."""
    with contextlib.suppress(Exception):
        await _layer().group_send(group, {"type": "bus.event", "payload": message})


class Subscription:
    """Messages of one group, received on a channel of our own."""

    def __init__(self, layer: Any, channel: str) -> None:
        self._layer = layer
        self._channel = channel

    async def get(self, wait: float | None = None) -> dict[str, Any] | None:
        """The next payload, or None when `wait` seconds pass without one."""
        try:
            message = await asyncio.wait_for(self._layer.receive(self._channel), wait)
        except TimeoutError:
            return None
        payload = message.get("payload")
        return payload if isinstance(payload, dict) else {}


@contextlib.asynccontextmanager
async def subscribe(*groups: str) -> AsyncIterator[Subscription]:
    layer = _layer()
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    try:
        yield Subscription(layer, channel)
    finally:
        for group in groups:
            with contextlib.suppress(Exception):
                await layer.group_discard(group, channel)
