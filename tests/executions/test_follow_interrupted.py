"""Followers of a run whose process died get exactly one terminal event, at once: recovery
publishes it, and a follower that saw more live than the log had still gets it (numbered
after what it saw)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from executions import bus, log
from executions.follow import KEEPALIVE, follow
from executions.models import Execution
from executions.services import execution_recover
from promptrails.db import run_db
from tests.helpers import make_tenant
from tests.support.wait import wait_for_async

pytestmark = pytest.mark.django_db(transaction=True)


def _running_with_log(logged: int) -> str:
    """A running execution whose log holds events 1..logged (its process still alive)."""
    tenant = make_tenant("Followed")
    execution = Execution.objects.create(workspace=tenant.workspace, agent_name="A",
                                         status="running", heartbeat_at=timezone.now())
    log.append(execution.id, [{"seq": 1, "type": "execution", "execution_id": execution.id}]
               + [{"seq": n, "type": "content", "content": f"w{n} "}
                  for n in range(2, logged + 1)])
    return execution.id


def _dies_and_is_recovered(execution_id: str) -> bool:
    Execution.objects.filter(pk=execution_id).update(
        heartbeat_at=timezone.now() - timedelta(hours=1))
    return execution_recover(execution_id=execution_id)


async def _collect(execution_id: str, after: int, into: list[dict[str, Any]]) -> None:
    async for event in follow(execution_id, after=after, keepalive=60):
        if event is not KEEPALIVE:
            into.append(event)


async def test_a_follower_that_saw_more_than_the_log_gets_the_end_of_an_interrupted_run(
) -> None:
    execution_id = await run_db(_running_with_log, 3)
    seen: list[dict[str, Any]] = []
    follower = asyncio.create_task(_collect(execution_id, 0, seen))
    await wait_for_async(lambda: len(seen) == 3, 10, 0.01, what="replayed from the log")
    # the run's process publishes three more events, then dies before its next flush
    for seq in (4, 5, 6):
        await bus.publish(bus.execution_group(execution_id),
                          {"seq": seq, "type": "content", "content": f"w{seq} "})
    await wait_for_async(lambda: len(seen) == 6, 10, 0.01, what="6 events")
    assert [e["seq"] for e in seen] == [1, 2, 3, 4, 5, 6]

    # recovery (a sweep anywhere) logs the end as seq 4 and publishes it: the follower
    # ends on it at once (its keepalive is a minute away), numbered after what it saw
    assert await run_db(_dies_and_is_recovered, execution_id)
    await asyncio.wait_for(follower, 10)
    assert seen[6:] == [{"seq": 7, "type": "error", "message": "interrupted",
                         "error": "interrupted"}]
    assert (await run_db(log.read, execution_id))[-1]["seq"] == 4

    # resuming past the logged end (Last-Event-ID 6): that end, once
    resumed: list[dict[str, Any]] = []
    await asyncio.wait_for(_collect(execution_id, 6, resumed), 10)
    assert [(e["seq"], e["type"]) for e in resumed] == [(7, "error")]
    # a new follower replays the log as it is: 1..4, ending with the error
    replay: list[dict[str, Any]] = []
    await asyncio.wait_for(_collect(execution_id, 0, replay), 10)
    assert [e["seq"] for e in replay] == [1, 2, 3, 4] and replay[-1]["type"] == "error"
    # and one that resumes at its seq: for that client seq 4 may have been the dead
    # process's live event (recovery could not know), so it gets the end too
    at_end: list[dict[str, Any]] = []
    await asyncio.wait_for(_collect(execution_id, 4, at_end), 10)
    assert [(e["seq"], e["type"]) for e in at_end] == [(5, "error")]


async def test_a_follower_notices_the_end_by_itself_when_no_one_published_it() -> None:
    # e.g. the recovering process could not reach this one: at its keepalive the follower
    # finds the run ended (or stale: it recovers it) and ends with the logged end
    execution_id = await run_db(_running_with_log, 2)
    seen: list[dict[str, Any]] = []

    async def collect() -> None:
        async for event in follow(execution_id, keepalive=0.2):
            if event is not KEEPALIVE:
                seen.append(event)

    follower = asyncio.create_task(collect())
    await wait_for_async(lambda: len(seen) == 2, 10, 0.01, what="2 events")
    for seq in (3, 4):
        await bus.publish(bus.execution_group(execution_id),
                          {"seq": seq, "type": "content", "content": f"w{seq} "})
    await wait_for_async(lambda: len(seen) == 4, 10, 0.01, what="4 events")
    await run_db(lambda: Execution.objects.filter(pk=execution_id).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)))
    await asyncio.wait_for(follower, 10)
    assert [(e["seq"], e["type"]) for e in seen] == [(1, "execution"), (2, "content"),
                                                     (3, "content"), (4, "content"),
                                                     (5, "error")]


async def test_a_follower_stops_at_an_end_it_finds_in_the_log_while_filling_a_gap() -> None:
    # a starved run was recovered elsewhere (the log's end at seq 3; its publish never
    # reached this process) and went on publishing before it noticed: the follower ends
    # at the logged end, never yielding events after it
    execution_id = await run_db(_running_with_log, 2)
    seen: list[dict[str, Any]] = []
    follower = asyncio.create_task(_collect(execution_id, 0, seen))
    await wait_for_async(lambda: len(seen) == 2, 10, 0.01, what="2 events")

    def recovered_elsewhere() -> None:
        Execution.objects.filter(pk=execution_id).update(status="failed", error="interrupted")
        log.append(execution_id, [{"seq": 3, "type": "error", "message": "interrupted",
                                   "error": "interrupted"}])

    await run_db(recovered_elsewhere)
    await bus.publish(bus.execution_group(execution_id),
                      {"seq": 9, "type": "content", "content": "w9 "})
    await asyncio.wait_for(follower, 10)
    assert [(e["seq"], e["type"]) for e in seen] == [(1, "execution"), (2, "content"),
                                                     (3, "error")]
