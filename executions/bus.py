"""The event bus: in-process fan-out, plus the Channels layer between processes.

Groups: ``exec.<id>`` carries an execution's events, ``execctl.<id>`` its control
messages (cancel), ``session.<id>`` everything a WebSocket client of a session sees.

Subscribers in the process that publishes get each message straight from an in-memory
queue: no channel-layer hop, no Redis round trip on the token path. When the layer
reaches other processes (channels-redis with REDIS_URL), messages are also sent there,
batched per group by a background sender so the publisher never waits on the network;
each process drops its own messages when they come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from promptrails.db import calling_loop

logger = logging.getLogger("promptrails.bus")
PROCESS = secrets.token_hex(8)
_local: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]] = (
    defaultdict(set)
)
_outboxes: dict[int, _Outbox] = {}


def execution_group(execution_id: str) -> str:
    return f"exec.{execution_id}"


def control_group(execution_id: str) -> str:
    return f"execctl.{execution_id}"


def session_group(session_id: str) -> str:
    return f"session.{session_id}"


def _remote_layer() -> Any:
    """The channel layer when it spans processes (Redis); None for the in-memory one."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


# How long the outbox gathers messages for other processes before a round. Followers in
# other processes get events up to this much later (the event log is written every 0.2 s).
COALESCE_SECONDS = 0.02


class _Outbox:
    """Per event loop: messages for other processes, sent in order, batched per group.

    Each round sends every waiting group's batch at once (one publish per group, all in
    flight together): sent one group after another, a busy loop made each round take
    longer than the events it carried, and the backlog grew for as long as the load
    lasted (the soak measured 64,000 waiting events after 80 s). At most MAX_PENDING
    events wait; beyond that new ones are dropped with a warning, which followers in
    other processes survive (they fill gaps from the event log).
    """

    MAX_PENDING = 50_000

    def __init__(self, loop: asyncio.AbstractEventLoop, layer: Any) -> None:
        self.layer = layer
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.count = 0
        self.dropped = 0
        self.wake = asyncio.Event()
        self.task = loop.create_task(self._send(), name="bus-outbox")

    def put(self, group: str, message: dict[str, Any]) -> None:
        if self.count >= self.MAX_PENDING:
            if not self.dropped:
                logger.warning("bus outbox full (%d waiting): dropping messages for other "
                               "processes until it drains", self.count)
            self.dropped += 1
            return
        self.pending.setdefault(group, []).append(message)
        self.count += 1
        self.wake.set()

    async def _send(self) -> None:
        while True:
            await self.wake.wait()
            # a moment for the tokens right behind this one: a stream whose tokens arrive
            # a few ms apart sends one publish per window, not one per token
            await asyncio.sleep(COALESCE_SECONDS)
            self.wake.clear()
            batch, self.pending = self.pending, {}
            await asyncio.gather(*(self._send_group(g, m) for g, m in batch.items()))
            self.count -= sum(len(m) for m in batch.values())
            if self.dropped and self.count < self.MAX_PENDING // 2:
                logger.warning("bus outbox drained; %d messages were dropped", self.dropped)
                self.dropped = 0

    async def _send_group(self, group: str, messages: list[dict[str, Any]]) -> None:
        await _send(self.layer, group, messages)


async def _send(layer: Any, group: str, messages: list[dict[str, Any]]) -> None:
    try:
        await layer.group_send(group, {"type": "bus.batch", "origin": PROCESS,
                                       "messages": messages})
    except Exception:  # the bus is best effort; the event log is the record
        logger.warning("could not publish to %s", group, exc_info=True)


def _outbox(layer: Any) -> _Outbox:
    loop = asyncio.get_running_loop()
    box = _outboxes.get(id(loop))
    if box is None or box.task.done():
        box = _outboxes[id(loop)] = _Outbox(loop, layer)
    return box


async def publish(group: str, message: dict[str, Any]) -> None:
    """Deliver to every subscriber of the group, here and in other processes."""
    _publish_now(group, message)


def publish_from_thread(group: str, message: dict[str, Any]) -> None:
    """`publish` from synchronous code. In a `run_db` thread the message is handed to the
    awaiting loop without waiting for it (in order, before that loop resumes the caller);
    in a sync view it is published through async_to_sync on the server's loop. With no
    event loop at all (a management command, a script) async_to_sync runs a loop made for
    this call, which ends with it: the message is sent to other processes before that."""
    loop = calling_loop()
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(_publish_now, group, message)
    elif _server_loop() is not None:
        async_to_sync(publish)(group, message)
    else:
        async_to_sync(_publish_and_send)(group, message)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop that async_to_sync hands this thread's calls to, if any (a thread
    of sync_to_async: asgiref keeps it in this thread-local)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) \
            != os.getpid() or loop.is_closed() or not loop.is_running():
        return None
    return loop  # type: ignore[no-any-return]


async def _publish_and_send(group: str, message: dict[str, Any]) -> None:
    _deliver_locally(group, message)
    layer = _remote_layer()
    if layer is not None:
        await _send(layer, group, [message])


def _publish_now(group: str, message: dict[str, Any]) -> None:
    _deliver_locally(group, message)
    layer = _remote_layer()
    if layer is not None:
        _outbox(layer).put(group, message)


def _deliver_locally(group: str, message: dict[str, Any]) -> None:
    try:
        current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    for loop, queue in list(_local.get(group, ())):
        if loop is current:
            queue.put_nowait(message)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, message)


class Subscription:
    """Messages of some groups, in the order they were published."""

    def __init__(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._queue = queue

    def drain(self) -> list[dict[str, Any]]:
        """Every message already waiting, without waiting for more."""
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def get(self, wait: float | None = None) -> dict[str, Any] | None:
        """The next message, or None when `wait` seconds pass without one."""
        if not self._queue.empty():  # the common case under load: no timer, no task
            return self._queue.get_nowait()
        try:  # a timer, not wait_for's task per call: a token that arrives alone waits here
            async with asyncio.timeout(wait):
                return await self._queue.get()
        except TimeoutError:
            return None


async def _relay(layer: Any, channel: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
    """Messages from other processes into the subscriber's queue."""
    while True:
        message = await layer.receive(channel)
        if message.get("origin") == PROCESS:
            continue
        for item in message.get("messages", ()):
            if isinstance(item, dict):
                queue.put_nowait(item)


async def _open(layer: Any, queue: asyncio.Queue[dict[str, Any]]
                ) -> tuple[str, asyncio.Task[None]]:
    """A new channel of the layer, with its relay already waiting in receive()."""
    channel = await layer.new_channel()
    relay = asyncio.get_running_loop().create_task(_relay(layer, channel, queue))
    await asyncio.sleep(0)  # the relay's first step: it is now inside receive()
    return channel, relay


def _cancel_relay(opening: asyncio.Task[tuple[str, asyncio.Task[None]]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result()[1].cancel()


@contextlib.asynccontextmanager
async def subscribe(*groups: str) -> AsyncIterator[Subscription]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    entry = (loop, queue)
    for group in groups:
        _local[group].add(entry)
    layer = _remote_layer()
    channel = None
    relay = None
    try:
        if layer is not None:
            channel, relay = await _open_shielded(loop, layer, queue)
            for group in groups:
                await layer.group_add(group, channel)
        yield Subscription(queue)
    finally:
        _leave_local(groups, entry)
        if relay is not None:
            relay.cancel()
        if layer is not None and channel is not None:
            await _leave_remote(layer, channel, groups)


async def _open_shielded(loop: asyncio.AbstractEventLoop, layer: Any,
                         queue: asyncio.Queue[dict[str, Any]]
                         ) -> tuple[str, asyncio.Task[None]]:
    """Only a receive() that is cancelled cleans a channel up (channels-redis has no
    delete_channel), so the relay must be receiving before anything else can be
    interrupted; opening is shielded and, if we are cancelled meanwhile, its relay is
    cancelled as soon as it exists. Otherwise each interrupted opening leaks a channel and
    its Redis subscription."""
    opening = loop.create_task(_open(layer, queue))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_cancel_relay)
        raise


def _leave_local(groups: tuple[str, ...], entry: tuple[Any, Any]) -> None:
    for group in groups:
        members = _local.get(group)
        if members is not None:
            members.discard(entry)
            if not members:
                _local.pop(group, None)


async def _leave_remote(layer: Any, channel: str, groups: tuple[str, ...]) -> None:
    for group in groups:
        with contextlib.suppress(Exception):
            await layer.group_discard(group, channel)
