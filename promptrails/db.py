"""Short ORM calls from async code, off the event loop, without pinning one thread.

`run_db(fn, ...)` runs a sync function in the default executor (not the single
thread-sensitive one, so concurrent turns don't queue behind each other) and closes the
thread's connection afterwards (with psycopg's pool this returns it to the pool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

P = ParamSpec("P")
T = TypeVar("T")


def _closing(fn: Callable[P, T]) -> Callable[P, T]:
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            for conn in connections.all(initialized_only=True):
                if not conn.in_atomic_block:
                    conn.close()

    return call


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await sync_to_async(_closing(fn), thread_sensitive=False)(*args, **kwargs)


__all__ = ["run_db", "close_old_connections"]
