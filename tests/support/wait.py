"""Waiting for a condition with a deadline: poll, and fail with what was awaited (never hang).

Use these instead of hand-written "poll until" loops and fixed sleeps that hope a condition
holds by then. A sleep that *is* the behaviour under test (time passing, a slow client)
stays a sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Poll until `check()` is truthy and return its value (so not None: a check that looks
    a row up returns the row); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last value {value!r})")
        time.sleep(interval)


@overload
async def wait_for_async(check: Callable[[], Awaitable[T | None]], timeout: float = ...,
                         interval: float = ..., what: str = ...) -> T: ...
@overload
async def wait_for_async(check: Callable[[], T | None], timeout: float = ...,
                         interval: float = ..., what: str = ...) -> T: ...
async def wait_for_async(check: Callable[[], Any], timeout: float = 15.0,
                         interval: float = 0.02, what: str = "condition") -> Any:
    """`wait_for` in a coroutine: polls with asyncio.sleep, so the loop runs meanwhile.
    `check` may be a plain function or an async one."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last value {value!r})")
        await asyncio.sleep(interval)
