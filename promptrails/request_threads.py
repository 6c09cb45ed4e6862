"""Each HTTP request's thread-sensitive work on a kept thread instead of a new one.

Django's ASGI handler runs every request in its own asgiref `ThreadSensitiveContext`: the
request's first thread-sensitive `sync_to_async` call (a sync view, the `response.close()`
at its end — which async views pay too) starts a one-thread executor, and leaving the
context shuts it down, joining that thread on the event loop. So every request paid a
thread start and a blocking join, and on SQLite a new connection (connections belong to
threads). asgiref lets the caller own the context's executor (`ThreadSensitiveContext(
executor=...)`); here each request takes one from a free list and gives it back: the same
guarantee — one thread for all of one request's sync work — without the churn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

KEEP = 64  # idle executors kept; more concurrent requests than this get new ones


class _RequestExecutor(ThreadPoolExecutor):
    """One thread; knows whether a call is still running (a request cancelled while its
    sync view runs must not lend that thread to the next request)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self.in_flight = 0
        self._count = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count:
            self.in_flight += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._count:
            self.in_flight -= 1


class RequestThreads:
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._free: list[_RequestExecutor] = []
        self._lock = threading.Lock()

    def take(self) -> _RequestExecutor:
        with self._lock:
            if self._free:
                return self._free.pop()
        return _RequestExecutor()

    def give_back(self, executor: _RequestExecutor) -> None:
        with self._lock:
            if executor.in_flight == 0 and len(self._free) < self.keep:
                self._free.append(executor)
                return
        executor.shutdown(wait=False)  # busy or surplus: its thread ends when it is done

    def idle(self) -> int:
        with self._lock:
            return len(self._free)


request_threads = RequestThreads()
