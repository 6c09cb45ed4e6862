"""The event bus: nothing left behind when subscriptions end; publishing from threads."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from channels.layers import get_channel_layer

from executions import bus
from promptrails.db import calling_loop, run_db
from tests.support.wait import wait_for_async


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
    await wait_for_async(lambda: not [g for g in bus._local if "leak" in g]
                         and _layer_channels() <= before, 5, what="no subscription left")
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
            await asyncio.sleep(30)  # held open until cancelled

    for i in range(60):
        task = asyncio.ensure_future(follower(i))
        for _ in range(i % 12):  # cancel at a different step of the opening each time
            await asyncio.sleep(0)
        if i % 12 == 11:
            await asyncio.sleep(0.002 * (i % 5))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await wait_for_async(lambda: not [g for g in bus._local if "cancel-open" in g]
                         and _layer_channels() <= before, 5, what="no subscription left")
    assert not [g for g in bus._local if "cancel-open" in g]
    assert _layer_channels() <= before


class _SlowLayer:
    """A channel layer whose publishes take a while (or never finish), recording them."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.in_flight = 0
        self.most_in_flight = 0
        self.sent: dict[str, list[int]] = {}

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0.01)
            self.sent.setdefault(group, []).extend(m["seq"] for m in message["messages"])
        finally:
            self.in_flight -= 1


async def test_outbox_sends_every_waiting_group_at_once_in_order() -> None:
    layer = _SlowLayer()
    box = bus._Outbox(asyncio.get_running_loop(), layer)
    for seq in range(1, 6):
        for g in range(20):
            box.put(f"exec.g{g}", {"seq": seq})
        await asyncio.sleep(0)
    await wait_for_async(lambda: box.count == 0, 10, 0.01, what="the outbox to drain")
    box.task.cancel()
    assert box.count == 0
    assert layer.most_in_flight >= 20  # one publish per group, all in flight together
    assert layer.sent == {f"exec.g{g}": [1, 2, 3, 4, 5] for g in range(20)}


async def test_outbox_backlog_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    gate = asyncio.Event()  # Redis that does not answer
    layer = _SlowLayer(gate)
    box = bus._Outbox(asyncio.get_running_loop(), layer)
    box.MAX_PENDING = 100
    box.put("exec.first", {"seq": 0})
    await asyncio.sleep(0)  # that one is in flight now
    for seq in range(1, 251):
        box.put("exec.stuck", {"seq": seq})
    assert box.count == 100 and box.dropped == 151
    assert "bus outbox full" in caplog.text
    gate.set()
    await wait_for_async(lambda: box.count == 0, 10, 0.01, what="the outbox to drain")
    box.task.cancel()
    assert layer.sent["exec.stuck"] == list(range(1, 100))  # what was kept, in order
    assert "drained; 151 messages were dropped" in caplog.text
