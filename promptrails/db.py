"""Short ORM calls from async code, off the event loop, without pinning one thread.

`run_db(fn, ...)` runs a sync function on a dedicated pool of database threads (not the
single thread-sensitive one, and not the loop's small default executor, so concurrent
turns neither queue behind each other nor starve other work). Each thread keeps its
connection (SQLite: opening one costs more than the query; PostgreSQL: psycopg's pool
behind CONN_MAX_AGE=0 hands it back cheaply); broken or obsolete ones are dropped after
each call.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

P = ParamSpec("P")
T = TypeVar("T")

DB_THREADS = int(os.environ.get("PROMPTRAILS_DB_THREADS", "16"))
_executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="db")


_caller = threading.local()


def calling_loop() -> asyncio.AbstractEventLoop | None:
    """In a function run by `run_db`: the event loop that awaits it (else None)."""
    return getattr(_caller, "loop", None)


def _close_stale_connections() -> None:
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def _tidy(fn: Callable[P, T], loop: asyncio.AbstractEventLoop) -> Callable[P, T]:
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        _caller.loop = loop
        try:
            return fn(*args, **kwargs)
        finally:
            _caller.loop = None
            _close_stale_connections()

    return call


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    call = _tidy(fn, asyncio.get_running_loop())
    return await sync_to_async(call, thread_sensitive=False, executor=_executor)(
        *args, **kwargs
    )
