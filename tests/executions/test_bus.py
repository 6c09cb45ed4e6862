"""The event bus: nothing left behind when subscriptions end; publishing from threads."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from channels.layers import get_channel_layer

from executions import bus
from promptrails.db import calling_loop, run_db


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


@pytest.mark.django_db(transaction=True)
async def test_publish_from_a_db_thread_arrives_before_the_caller_resumes() -> None:
    """A database thread hands messages to the loop awaiting it, in order; they are
    delivered before the coroutine awaiting run_db carries on."""

    def in_thread() -> None:
        assert calling_loop() is not None
        for seq in (1, 2, 3):
            bus.publish_from_thread("session.thread-test", {"seq": seq})

    async with bus.subscribe("session.thread-test") as sub:
        await run_db(in_thread)
        assert sub.drain() == [{"seq": 1}, {"seq": 2}, {"seq": 3}]
    assert calling_loop() is None  # only inside run_db


def test_publish_from_plain_sync_code_still_delivers() -> None:
    assert calling_loop() is None

    async def main() -> list[dict[str, int]]:
        async with bus.subscribe("session.sync-test") as sub:
            await asyncio.to_thread(bus.publish_from_thread, "session.sync-test", {"seq": 7})
            got = await sub.get(wait=2)
            return [got] if got is not None else []

    assert asyncio.run(main()) == [{"seq": 7}]


async def test_subscriptions_cancelled_while_opening_leave_nothing() -> None:
    """A follower whose client goes away (or a run's control task that ends) while its
    subscription is still being set up (channel creation, group joins: Redis round trips
    with channels-redis) must not leave the channel behind (the soak found ~1 per turn)."""
    before = _layer_channels()

    async def follower(i: int) -> None:
        async with bus.subscribe(f"exec.cancel-open-{i}", f"execctl.cancel-open-{i}"):
            await asyncio.sleep(30)

    for i in range(60):
        task = asyncio.ensure_future(follower(i))
        for _ in range(i % 12):  # cancel at a different step of the opening each time
            await asyncio.sleep(0)
        if i % 12 == 11:
            await asyncio.sleep(0.002 * (i % 5))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.2)
    assert not [g for g in bus._local if "cancel-open" in g]
    assert _layer_channels() <= before
