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

from promptrails.outbound import OutboundRefused, parse_url, refusal_in

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


MAX_PROVIDER_MESSAGE = 200


def short(text: object, limit: int = MAX_PROVIDER_MESSAGE) -> str:
    """A provider's text cut to ``limit`` characters (error texts are shown to clients)."""
    value = str(text)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def sdk_error_message(exc: Any) -> str:
    """The provider's own message from an SDK status error's JSON body (shortened), else the
    status's reason phrase: never the raw body (a URL may answer with anything)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return short(error["message"])
    return httpx.codes.get_reason_phrase(exc.status_code) or "error"


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
    refused = refusal_in(exc)
    if refused is not None:
        return ProviderError(f"{sdk.name}: base URL refused: {refused}", retryable=False)
    if isinstance(exc, sdk.timeout | httpx.TimeoutException):
        return ProviderError(f"{sdk.name}: request timed out", retryable=True)
    if isinstance(exc, sdk.connection | httpx.TransportError):
        detail = str(exc) or type(exc).__name__
        return ProviderError(f"{sdk.name}: connection error: {short(detail)}", retryable=True)
    if isinstance(exc, sdk.status):
        return on_status(exc) if on_status is not None else status_error(exc, sdk)
    if isinstance(exc, sdk.api):
        return ProviderError(f"{sdk.name}: {short(getattr(exc, 'message', exc))}",
                             retryable=True)
    if isinstance(exc, sdk.base):
        return ProviderError(f"{sdk.name}: {short(exc)}", retryable=False)
    if isinstance(exc, ValueError | TypeError | AttributeError | KeyError | IndexError):
        return ProviderError(f"{sdk.name}: malformed response chunk: {short(exc)}",
                             retryable=True)
    return ProviderError(f"{sdk.name}: unexpected error: {type(exc).__name__}: {short(exc)}")


_CHECK_STATUS = {
    401: "the key was rejected",
    403: "the key may not list models",
    404: "not found (check the base URL)",
    429: "rate limited",
}


def check_failure(exc: BaseException, sdk: SdkErrors) -> str:
    """What a failed credential check tells the client: the kind of failure and the HTTP
    status, never what the URL answered (it may be any server the workspace named)."""
    if isinstance(exc, ProviderError) and exc.status_code is None:
        return exc.message  # ours: e.g. no key of its own, a refused URL
    refused = refusal_in(exc)
    if refused is not None:
        return f"{sdk.name}: base URL refused: {refused}"
    if isinstance(exc, sdk.timeout | httpx.TimeoutException):
        return f"{sdk.name}: request timed out"
    if isinstance(exc, sdk.connection | httpx.TransportError):
        return f"{sdk.name}: could not connect"
    status = getattr(exc, "status_code", None)
    if isinstance(exc, sdk.status | ProviderError) and isinstance(status, int):
        meaning = _CHECK_STATUS.get(status) or (
            "the provider failed" if status >= 500 else httpx.codes.get_reason_phrase(status)
        )
        return f"{sdk.name}: HTTP {status}: {meaning or 'error'}"
    return f"{sdk.name}: unexpected response"


ClientFactory = Callable[[str | None, str | None, bool], Any]


class ClientCache:
    """SDK clients cached per (event loop, key, URL): reuses HTTP connection pools across
    turns without sharing an httpx client between event loops (pooled connections are
    bound to the loop that opened them)."""

    def __init__(self, factory: ClientFactory, *, sdk: SdkErrors, key_env: str,
                 url_env: str) -> None:
        self._factory = factory  # (api_key, base_url, checked): checked = outbound policy
        self._sdk = sdk
        self._key_env = key_env
        self._url_env = url_env
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str | None, str | None, bool], Any]
        ] = weakref.WeakKeyDictionary()

    def get(self, api_key: str | None, base_url: str | None, checked: bool = False) -> Any:
        loop = asyncio.get_running_loop()
        clients = self._by_loop.setdefault(loop, {})
        key = (api_key, base_url, checked)
        client = clients.get(key)
        if client is None:
            client = self._factory(api_key, base_url, checked)
            clients[key] = client
        return client

    def for_spec(self, spec: ModelSpec) -> Any:
        """The client for a model.

        A spec with its own base URL (a credential's, or a registry model's) goes there
        with its own key only — never the environment's — over a client whose every
        connection passes the outbound policy (promptrails.outbound). Otherwise the
        spec's key (a credential without a URL) or the environment's goes to the
        environment's URL or the SDK's default (resolved here so that the cache key
        reflects them)."""
        name = self._sdk.name
        try:
            if spec.base_url:
                if not spec.api_key:
                    raise ProviderError(
                        f"{name}: a credential with its own base_url needs its own api_key "
                        "(the server's key is never sent to it)", retryable=False)
                parse_url(spec.base_url)
                return self.get(spec.api_key, spec.base_url, checked=True)
            api_key = spec.api_key or os.environ.get(self._key_env)
            base_url = os.environ.get(self._url_env) or None
            return self.get(api_key, base_url)
        except OutboundRefused as exc:
            raise ProviderError(f"{name}: base URL refused: {exc}", retryable=False) from None
        except self._sdk.base as exc:  # e.g. no API key configured
            raise ProviderError(f"{name}: {short(exc)}", retryable=False) from None
