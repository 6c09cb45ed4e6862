"""SSE batching: with a spacing, live events that come sooner than it after the last batch
leave together (one write per spacing on a fast stream); the first content is never held
(no added time to first token)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.utils import timezone

from executions import bus, log
from executions.follow import follow_batches
from executions.models import Execution
from promptrails.db import run_db
from tests.helpers import make_tenant
from tests.support.wait import wait_for_async

pytestmark = pytest.mark.django_db(transaction=True)


def _running() -> str:
    tenant = make_tenant("Spaced")
    execution = Execution.objects.create(workspace=tenant.workspace, agent_name="A",
                                         status="running", heartbeat_at=timezone.now())
    log.append(execution.id, [{"seq": 1, "type": "execution", "execution_id": execution.id}])
    return execution.id


async def _collect(execution_id: str, spacing: float, into: list[list[int]]) -> None:
    async for batch in follow_batches(execution_id, keepalive=60, spacing=spacing):
        into.append([event["seq"] for event in batch])


def _content(seq: int) -> dict[str, Any]:
    return {"seq": seq, "type": "content", "content": f"w{seq} "}


async def test_events_sooner_than_the_spacing_leave_in_one_batch() -> None:
    execution_id = await run_db(_running)
    group = bus.execution_group(execution_id)
    batches: list[list[int]] = []
    follower = asyncio.create_task(_collect(execution_id, 2.0, batches))
    await wait_for_async(lambda: batches == [[1]], 10, 0.01, what="the replay")
    await bus.publish(group, _content(2))
    await wait_for_async(lambda: len(batches) == 2, 10, 0.01, what="the first live event")
    for seq in (3, 4, 5):  # well inside the spacing: held, then written together
        await bus.publish(group, _content(seq))
        await asyncio.sleep(0.05)
    await bus.publish(group, {"seq": 6, "type": "done", "output": "w2 w3 w4 w5 "})
    await asyncio.wait_for(follower, 10)
    assert batches[:2] == [[1], [2]]
    assert batches[2][:3] == [3, 4, 5]
    assert [seq for batch in batches for seq in batch] == [1, 2, 3, 4, 5, 6]


async def test_the_first_content_is_not_held_for_the_spacing() -> None:
    execution_id = await run_db(_running)
    group = bus.execution_group(execution_id)
    batches: list[list[int]] = []
    follower = asyncio.create_task(_collect(execution_id, 60.0, batches))
    try:
        await wait_for_async(lambda: batches == [[1]], 10, 0.01, what="the replay")
        # a minute's spacing: were either of these held, the waits would time out
        await bus.publish(group, {"seq": 2, "type": "tool_start", "id": "t1", "name": "x"})
        await wait_for_async(lambda: batches == [[1], [2]], 10, 0.01, what="event 2 at once")
        await bus.publish(group, _content(3))  # a batch without content set no spacing
        await wait_for_async(lambda: batches == [[1], [2], [3]], 10, 0.01,
                             what="the first content at once")
    finally:
        follower.cancel()
