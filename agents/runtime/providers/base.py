"""Provider protocol and shared helpers."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from ..types import INVALID_ARGUMENTS_KEY, ModelRequest, ModelSpec, ProviderChunk, ProviderError


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


@dataclass(frozen=True)
class SdkErrors:
    """One provider SDK: its name in error texts and the exception classes it raises."""

    name: str
    timeout: type[Exception]  # the request timed out
    connection: type[Exception]  # no connection, or it broke
    status: type[Exception]  # an HTTP error status (has status_code, body, response)
    api: type[Exception]  # an error event inside a stream
    base: type[Exception]  # anything else it raises (e.g. no API key configured)


def sdk_error_message(exc: Any) -> str:
    """The provider's own message from an SDK status error's JSON body, else the SDK's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(exc.message)


def status_error(exc: Any, sdk: SdkErrors) -> ProviderError:
    status = exc.status_code
    return ProviderError(
        f"{sdk.name}: HTTP {status}: {sdk_error_message(exc)}", status_code=status,
        retryable=is_retryable_status(status), retry_after=parse_retry_after(exc.response.headers),
    )


def map_sdk_error(exc: BaseException, sdk: SdkErrors,
                  on_status: Callable[[Any], ProviderError] | None = None) -> ProviderError:
    """Translate what an SDK (or httpx under it) raised to :class:`ProviderError`: timeouts,
    connection failures, error events in a stream and malformed chunks are retryable;
    statuses by :func:`is_retryable_status` (``on_status`` maps them when the provider
    says more)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, sdk.timeout | httpx.TimeoutException):
        return ProviderError(f"{sdk.name}: request timed out", retryable=True)
    if isinstance(exc, sdk.connection | httpx.TransportError):
        detail = str(exc) or type(exc).__name__
        return ProviderError(f"{sdk.name}: connection error: {detail}", retryable=True)
    if isinstance(exc, sdk.status):
        return on_status(exc) if on_status is not None else status_error(exc, sdk)
    if isinstance(exc, sdk.api):
        return ProviderError(f"{sdk.name}: {getattr(exc, 'message', exc)}", retryable=True)
    if isinstance(exc, sdk.base):
        return ProviderError(f"{sdk.name}: {exc}", retryable=False)
    if isinstance(exc, ValueError | TypeError | AttributeError | KeyError | IndexError):
        return ProviderError(f"{sdk.name}: malformed response chunk: {exc}", retryable=True)
    return ProviderError(f"{sdk.name}: unexpected error: {type(exc).__name__}: {exc}")


class ClientCache:
    """SDK clients cached per (event loop, key): reuses HTTP connection pools across
    turns without sharing an httpx client between event loops (pooled connections are
    bound to the loop that opened them)."""

    def __init__(self, factory: Callable[[str | None, str | None], Any], *, sdk: SdkErrors,
                 key_env: str, url_env: str) -> None:
        self._factory = factory
        self._sdk = sdk
        self._key_env = key_env
        self._url_env = url_env
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

    def for_spec(self, spec: ModelSpec) -> Any:
        """The client for a model: its own key and URL, else the environment variables the
        SDK reads (resolved here so that the cache key reflects them)."""
        try:
            api_key = spec.api_key or os.environ.get(self._key_env)
            base_url = spec.base_url or os.environ.get(self._url_env) or None
            return self.get(api_key, base_url)
        except self._sdk.base as exc:  # e.g. no API key configured
            raise ProviderError(f"{self._sdk.name}: {exc}", retryable=False) from None
