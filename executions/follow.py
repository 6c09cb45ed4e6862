"""Following an execution: every event exactly once, in order, from any process.

Subscribe to the bus first, then replay what exists (the in-process run's memory, else
the durable log); then yield live events, skipping what was replayed. A live event past
a gap means some events were published before we subscribed and are not yet readable:
fill the gap from the local run or the log (the runner flushes every ~100 ms) first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from executions import bus, log, runner
from executions.models import FINISHED_STATUSES, Execution, ExecutionEvent
from executions.services import INTERRUPTED, execution_recover
from promptrails.db import run_db

KEEPALIVE = {"type": "__keepalive__"}
GAP_TIMEOUT = 5.0


async def _read(execution_id: str, after: int) -> list[log.Event]:
    local = runner.local_run(execution_id)
    if local is not None:
        return local.events_after(after)
    events = await run_db(log.read, execution_id, after)
    if not events:
        # The run may have ended between the two checks: its memory is gone, read again.
        local = runner.local_run(execution_id)
        if local is not None:
            return local.events_after(after)
    return events


def _status(execution_id: str) -> str | None:
    return Execution.objects.filter(pk=execution_id).values_list("status", flat=True).first()


async def follow(
    execution_id: str, after: int = 0, keepalive: float | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Yield events with seq > after; yields KEEPALIVE when idle for `keepalive` seconds."""
    async for batch in follow_batches(execution_id, after, keepalive):
        for event in batch:
            yield event


async def follow_batches(
    execution_id: str, after: int = 0, keepalive: float | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Like `follow`, but yields every event that is already waiting as one list, so a
    transport can write a burst of tokens in one send instead of one send per token."""
    interval = keepalive if keepalive is not None else settings.SSE_KEEPALIVE_SECONDS
    last = after
    async with bus.subscribe(bus.execution_group(execution_id)) as live:
        replay = await _read(execution_id, last)
        for index, event in enumerate(replay):
            if event["type"] in log.TERMINAL_TYPES:
                yield replay[: index + 1]
                return
        if replay:
            yield replay
            last = replay[-1]["seq"]
        # Already over (e.g. Last-Event-ID at the terminal event): nothing more will come.
        tail = await _ended_tail(execution_id, last, after)
        if tail is not None:
            if tail:
                yield tail
            return
        while True:
            received = await live.get(wait=interval)
            if received is None:
                yield [KEEPALIVE]
                tail = await _ended_tail(execution_id, last, after)
                if tail is not None:
                    if tail:
                        yield tail
                    return
                continue
            batch: list[dict[str, Any]] = []
            for event in (received, *live.drain()):
                seq = event.get("seq")
                if not isinstance(seq, int):
                    continue
                if seq <= last:
                    if event.get("type") in log.TERMINAL_TYPES:
                        # the end of a run whose process died, numbered after what its log
                        # had: this follower saw more live, and has not had an end yet
                        batch.append({**event, "seq": last + 1})
                        yield batch
                        return
                    continue
                if seq > last + 1:
                    async for item in _fill_gap(execution_id, last, seq):
                        batch.append(item)
                        last = item["seq"]
                        if item["type"] in log.TERMINAL_TYPES:
                            # the log ends before this event: the run was ended elsewhere
                            # (recovered while its process was starved) and this is its end
                            yield batch
                            return
                batch.append(event)
                last = seq
                if event["type"] in log.TERMINAL_TYPES:
                    yield batch
                    return
            if batch:
                yield batch


async def _fill_gap(execution_id: str, last: int, upto: int) -> AsyncIterator[log.Event]:
    deadline = time.monotonic() + GAP_TIMEOUT
    while last + 1 < upto:
        for item in await _read(execution_id, last):
            if item["seq"] >= upto:
                break
            if item["seq"] == last + 1:
                yield item
                last = item["seq"]
        if last + 1 >= upto or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)


async def _ended_tail(execution_id: str, last: int, after: int) -> list[log.Event] | None:
    """If the execution ended (maybe in a process that died), the rest up to its terminal
    event ([] when the follower has that already); else None.

    A follower that started after `after` and has yielded up to `last` (never a terminal
    event: it stops at one) gets the logged terminal event even when its seq is not past
    `last` — renumbered `last + 1` — because recovery numbers it after the last *logged*
    event and a follower may have seen later ones live. A follower that resumed right at
    the terminal event (Last-Event-ID) and got nothing since has it — unless recovery
    wrote it: then that seq may have been a live event of the dead process (the client of
    a killed server resuming elsewhere), and the end is sent rather than lost.
    """
    if runner.local_run(execution_id) is not None:
        return None
    status = await run_db(_status, execution_id)
    if status not in FINISHED_STATUSES:
        stale = await run_db(_interrupt_if_stale, execution_id)
        if not stale:
            return None
    tail = await run_db(log.read, execution_id, last)
    for index, event in enumerate(tail):
        if event["type"] in log.TERMINAL_TYPES:
            return tail[: index + 1]
    terminal = await run_db(_terminal_event, execution_id)
    if terminal is None:
        return None  # ended, but its last events are still being written to the log
    if terminal["seq"] == last == after and terminal.get("error") != INTERRUPTED:
        return []
    end = max([last, *(event["seq"] for event in tail)])
    return [*tail, {**terminal, "seq": end + 1}]


def _terminal_event(execution_id: str) -> log.Event | None:
    row = ExecutionEvent.objects.filter(
        execution_id=execution_id, type__in=log.TERMINAL_TYPES
    ).order_by("seq").first()
    return None if row is None else log.expand(row)[0]


def _interrupt_if_stale(execution_id: str) -> bool:
    return execution_recover(execution_id=execution_id)
