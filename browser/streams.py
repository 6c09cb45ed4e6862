"""A browser chat stream ends when its browser key is revoked (the turn itself runs on).

The revocation is announced on the key's bus group (promptrails.services.api_key_revoke):
heard at once in every process with Redis. Without it (or should the message be lost) the
database is asked every settings.BROWSER_REVOCATION_CHECK_SECONDS while the stream lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from django.conf import settings

from executions import bus
from promptrails.db import run_db
from promptrails.models import ApiKey
from promptrails.services import API_KEY_REVOKED, api_key_group

_END = object()
_REVOKED = object()


def _key_active(key_id: str) -> bool:
    return ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True).exists()


async def _pump(chunks: AsyncIterator[bytes], queue: asyncio.Queue[object],
                failed: list[BaseException]) -> None:
    """Move `chunks` into `queue`, then _END (a failure is kept for the consumer)."""
    try:
        async for chunk in chunks:
            await queue.put(chunk)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
        failed.append(exc)
    await queue.put(_END)


async def _watch(announcements: bus.Subscription, key_id: str,
                 queue: asyncio.Queue[object]) -> None:
    """Put _REVOKED in `queue` once the key is revoked: announced on the bus, or found in
    the database when nothing was heard for a while."""
    every = settings.BROWSER_REVOCATION_CHECK_SECONDS
    while True:
        message = await announcements.get(wait=every)
        if message is None:  # nothing heard for a while: ask the database
            revoked = not await run_db(_key_active, key_id)
        else:
            revoked = message.get("type") == API_KEY_REVOKED
        if revoked:
            await queue.put(_REVOKED)
            return


async def _cancel(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


async def until_revoked(chunks: AsyncIterator[bytes], key_id: str) -> AsyncIterator[bytes]:
    """`chunks` as they come, until they end or the key `key_id` is revoked (announced on
    its bus group by promptrails.services.api_key_revoke, from any process)."""
    async with bus.subscribe(api_key_group(key_id)) as announcements:
        # subscribed first: a revocation committed from now on is heard; one before, read
        if not await run_db(_key_active, key_id):
            return
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=64)
        failed: list[BaseException] = []
        tasks = [asyncio.ensure_future(_pump(chunks, queue, failed)),
                 asyncio.ensure_future(_watch(announcements, key_id, queue))]
        try:
            while (item := await queue.get()) not in (_END, _REVOKED):
                yield cast(bytes, item)
            if item is _END and failed:
                raise failed[0]
        finally:
            await _cancel(tasks)
