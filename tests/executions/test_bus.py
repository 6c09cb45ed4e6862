"""The event bus leaves nothing behind when subscriptions end (no leak per turn)."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer

from executions import bus


def _layer_channels() -> int:
    layer = get_channel_layer()
    inner = layer._get_layer() if hasattr(layer, "_get_layer") else layer  # channels-redis
    return len(getattr(inner, "channels", {}))


async def test_short_and_long_subscriptions_leave_nothing() -> None:
    before = _layer_channels()
    for i in range(50):
        async with bus.subscribe(f"exec.leak-{i}", f"session.leak-{i}"):
            pass  # ends before its relay ever waited: the case that used to leak
    for i in range(5):
        async with bus.subscribe(f"exec.leak-long-{i}") as sub:
            await bus.publish(f"exec.leak-long-{i}", {"seq": 1, "type": "content"})
            assert await sub.get(wait=2) == {"seq": 1, "type": "content"}
    await asyncio.sleep(0.05)
    assert not [g for g in bus._local if "leak" in g]
    assert _layer_channels() <= before
