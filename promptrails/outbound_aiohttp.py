"""Outbound HTTP over aiohttp, for the model SDKs' streaming requests.

The SDKs speak httpx; this is an httpx transport whose connections are aiohttp's (the same
choice as the OpenAI SDK's ``DefaultAioHttpClient``). aiohttp parses HTTP in C: a streamed
completion costs about a third of httpcore's CPU per chunk (bench/RESULTS.md, fifth
round). The outbound policy is the same one (:mod:`promptrails.outbound`): with
``checked``, aiohttp resolves through :class:`CheckedResolver`, which checks every address
and hands back only checked ones, so aiohttp connects to nothing else (an address literal,
which aiohttp never resolves, is checked before the request); no DNS cache,
no redirects, no environment proxies. aiohttp's errors become httpx's, so the SDKs map
them as they map their own (a timeout is a timeout, a reset a read error).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from promptrails import outbound

# most specific first: the first match wins
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (asyncio.TimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientError, httpx.ReadError),
)


@contextlib.contextmanager
def _as_httpx(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError:
        raise
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc) or type(exc).__name__, request=request) from exc
        raise


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class CheckedResolver(AbstractResolver):
    """The host's addresses, each checked by the policy (``outbound.resolve``)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)
                for address in await outbound.resolve(host, port)]

    async def close(self) -> None:
        return None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (made on first use, in the loop that uses it)."""

    def __init__(self, *, checked: bool) -> None:
        self._checked = checked
        self._session: aiohttp.ClientSession | None = None

    def _make_session(self) -> aiohttp.ClientSession:
        limits = outbound.DEFAULT_LIMITS
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0, ssl=outbound.default_ssl_context(),
            keepalive_timeout=limits.keepalive_expiry or 5.0,
            resolver=CheckedResolver() if self._checked else None,
            use_dns_cache=not self._checked)
        return aiohttp.ClientSession(connector=connector, trust_env=False,
                                     auto_decompress=False, skip_auto_headers=("User-Agent",))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._make_session()
        if self._checked and _is_address(request.url.host):
            # aiohttp connects to an address literal without asking the resolver
            await outbound.resolve(request.url.host, request.url.port or 0)
        timeout = request.extensions.get("timeout", {})
        with _as_httpx(request):
            response = await self._session.request(
                request.method, str(request.url), headers=request.headers.multi_items(),
                data=await request.aread() or None, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read"),
                                              connect=timeout.get("pool")))
        return httpx.Response(status_code=response.status, headers=response.raw_headers,
                              stream=_Body(response, request), request=request,
                              extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def async_client(client_class: type[httpx.AsyncClient] = httpx.AsyncClient, *,
                 checked: bool) -> httpx.AsyncClient:
    """An httpx client (of ``client_class``, e.g. an SDK's ``DefaultAsyncHttpxClient``)
    over aiohttp; with ``checked`` every connection passes the outbound policy."""
    return client_class(transport=AiohttpTransport(checked=checked), follow_redirects=False,
                        trust_env=False)
