"""Following an execution: every event exactly once, in order, from any process.

Subscribe to the bus first, then replay what exists (the in-process run's memory, else
the durable log); then yield live events, skipping what was replayed. A live event past
a gap means some events were published before we subscribed and are not yet readable:
fill the gap from the local run or the log (the runner flushes every
runner.FLUSH_INTERVAL, 0.2 s) first.
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
    local = runner.events_after(execution_id, after)
    if local is not None:
        return local
    events = await run_db(log.read, execution_id, after)
    if not events:
        # The run may have ended between the two checks: its memory is gone, read again.
        local = runner.events_after(execution_id, after)
        if local is not None:
            return local
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
    execution_id: str, after: int = 0, keepalive: float | None = None, spacing: float = 0.0,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Like `follow`, but yields every event that is already waiting as one list, so a
    transport can write a burst of tokens in one send instead of one send per token.

    With `spacing` (seconds), a live batch comes at least that long after the last one
    that carried content: an event that comes sooner waits for the rest of the spacing with
    those behind it, so a fast stream costs one write per `spacing`, not one per token. The
    first content, and any after a pause longer than `spacing`, leaves at once (no added
    time to first token, none for a model slower than one token per `spacing`)."""
    interval = keepalive if keepalive is not None else settings.SSE_KEEPALIVE_SECONDS
    follower = _Follower(execution_id, after)
    last_batch = -spacing
    async with bus.subscribe(bus.execution_group(execution_id)) as live:
        replay, ended = await follower.replay()
        if replay:
            yield replay
        if ended:
            return
        # Already over (e.g. Last-Event-ID at the terminal event): nothing more will come.
        tail = await follower.ended_tail()
        while tail is None:
            received = await live.get(wait=interval)
            if received is None:
                yield [KEEPALIVE]
                tail = await follower.ended_tail()
                continue
            wait = last_batch + spacing - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            batch, ended = await follower.take((received, *live.drain()))
            if batch:
                yield batch
                if any(event["type"] == "content" for event in batch):
                    last_batch = time.monotonic()
            if ended:
                return
        if tail:
            yield tail


class _Follower:
    """Where one follower is: `last`, the sequence number of the last event it yielded."""

    def __init__(self, execution_id: str, after: int) -> None:
        self.execution_id = execution_id
        self.after = after
        self.last = after

    async def replay(self) -> tuple[list[log.Event], bool]:
        """What exists already (up to the terminal event, if any); True if it ended."""
        events = await _read(self.execution_id, self.last)
        for index, event in enumerate(events):
            if event["type"] in log.TERMINAL_TYPES:
                return events[: index + 1], True
        if events:
            self.last = events[-1]["seq"]
        return events, False

    async def ended_tail(self) -> list[log.Event] | None:
        return await _ended_tail(self.execution_id, self.last, self.after)

    async def take(self, events: tuple[dict[str, Any], ...]) -> tuple[list[log.Event], bool]:
        """A burst of live events as the next batch: in order, none twice, gaps filled from
        the log; True once the batch ends with the terminal event."""
        batch: list[log.Event] = []
        for event in events:
            if await self._add(event, batch):
                return batch, True
        return batch, False

    async def _add(self, event: dict[str, Any], batch: list[log.Event]) -> bool:
        seq = event.get("seq")
        if not isinstance(seq, int):
            return False
        if seq <= self.last:
            if event.get("type") not in log.TERMINAL_TYPES:
                return False  # yielded already
            # the end of a run whose process died, numbered after what its log had: this
            # follower saw more live, and has not had an end yet
            batch.append({**event, "seq": self.last + 1})
            return True
        if seq > self.last + 1 and await self._fill(seq, batch):
            return True
        batch.append(event)
        self.last = seq
        return event["type"] in log.TERMINAL_TYPES

    async def _fill(self, upto: int, batch: list[log.Event]) -> bool:
        """The events missing before `upto`, from the local run or the log."""
        async for item in _fill_gap(self.execution_id, self.last, upto):
            batch.append(item)
            self.last = item["seq"]
            if item["type"] in log.TERMINAL_TYPES:
                # the log ends before this event: the run was ended elsewhere (recovered
                # while its process was starved) and this is its end
                return True
        return False


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
    if runner.runs_here(execution_id):
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
