"""Provider protocol and shared helpers."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Protocol, TypeVar

from ..types import INVALID_ARGUMENTS_KEY, ModelRequest, ProviderChunk


class Provider(Protocol):
    def stream(self, request: ModelRequest) -> AsyncGenerator[ProviderChunk, None]:
        """Async generator of chunks. ``aclose()`` closes the underlying HTTP stream.

        Raises :class:`ProviderError` for any failure (HTTP, network, timeout,
        malformed data).
        """
        ...


MAX_RETRY_AFTER = 10.0


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (delta or HTTP date)."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def parse_tool_arguments(raw: str) -> dict[str, Any]:
    """Parse a model's JSON tool arguments; invalid JSON is kept under a marker key."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {INVALID_ARGUMENTS_KEY: raw}
    if not isinstance(value, dict):
        return {INVALID_ARGUMENTS_KEY: raw}
    return value


def is_retryable_status(status: int | None) -> bool:
    return status is not None and (status in (408, 409, 425, 429) or status >= 500)


C = TypeVar("C")


class ClientCache:
    """SDK clients cached per (event loop, key): reuses HTTP connection pools across
    turns without sharing an httpx client between event loops (pooled connections are
    bound to the loop that opened them)."""

    def __init__(self, factory: Callable[[str | None, str | None], Any]) -> None:
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str | None, str | None], Any]
        ] = weakref.WeakKeyDictionary()

    def get(self, api_key: str | None, base_url: str | None) -> Any:
        loop = asyncio.get_running_loop()
        clients = self._by_loop.setdefault(loop, {})
        key = (api_key, base_url)
        client = clients.get(key)
        if client is None:
            client = self._factory(api_key, base_url)
            clients[key] = client
        return client

    def clear(self) -> None:
        self._by_loop = weakref.WeakKeyDictionary()
