"""The MCP SDK's HTTP client through the outbound-URL gate (promptrails.outbound).

mcp 2.x speaks HTTP with ``httpx2`` (a fork of httpx with its own ``httpcore2``), so the
gate's httpx client cannot be handed to it. This is the same gate for that library: the
policy, the resolution and the check are promptrails.outbound's (:func:`outbound.resolve`);
only the adapter to httpcore2's network backend lives here. Every connection resolves the
host, refuses it unless every address passes, and connects to the checked address (TLS SNI
and ``Host`` still carry the name); redirects are not followed by the client (the SDK
follows same-origin ones itself, each a new checked connection) and no proxy is read from
the environment.
"""

from __future__ import annotations

import typing
from typing import Any

import anyio
import httpcore
import httpcore2
import httpx2

from promptrails import outbound

LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)


class CheckedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's AnyIO backend, only ever given an address the policy allows."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await outbound.resolve(host, port)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"resolving {host!r} timed out") from None
        except httpcore.ConnectError as exc:  # the gate's resolver speaks httpcore
            raise httpcore2.ConnectError(str(exc)) from exc
        return await outbound.connect_first(
            addresses,
            lambda address: self._inner.connect_tcp(address, port, timeout=timeout,
                                                    local_address=local_address,
                                                    socket_options=socket_options),
            (httpcore2.ConnectError, httpcore2.ConnectTimeout),
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's)
        socket_options: typing.Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise outbound.OutboundRefused("Unix sockets are not allowed.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class CheckedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's own transport over a pool whose network backend is :class:`CheckedBackend`."""

    def __init__(self, *, limits: httpx2.Limits = LIMITS) -> None:
        super().__init__(limits=limits, trust_env=False)
        ssl_context = httpx2.create_ssl_context(trust_env=False)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(),
        )


def checked_client(headers: dict[str, str] | None = None,
                   timeout: httpx2.Timeout | None = None,
                   auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
    """An httpx2 client for the MCP SDK (its ``McpHttpClientFactory`` signature) whose
    every connection passes the outbound policy."""
    kwargs: dict[str, Any] = {}
    if auth is not None:
        kwargs["auth"] = auth
    return httpx2.AsyncClient(transport=CheckedTransport(), follow_redirects=False,
                              trust_env=False, headers=headers,
                              timeout=timeout or httpx2.Timeout(30.0, read=300.0), **kwargs)
