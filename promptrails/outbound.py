"""The one gate for outbound connections a workspace can aim.

Every URL that a workspace (or the model registry) chooses and the server then connects to
— model base URLs now, MCP servers and webhooks later — goes through this module:

- :func:`parse_url`: http(s) only; no userinfo, query or fragment (a ``?`` in a base URL
  would turn the path the SDK appends into a query string: any path of the target).
- :func:`check_url`: that, plus the host resolved and every address checked, for an
  early 400 when a URL is saved.
- :func:`async_client`: an ``httpx.AsyncClient`` for the SDKs whose every connection is
  checked when it is made: its transport's network backend resolves the host, refuses
  the connection unless every address passes :func:`refusal`, and connects to the checked
  address itself (TLS SNI and ``Host`` still carry the name), so a DNS answer cannot
  change between the check and the connect. Redirects are not followed, environment
  proxies are not used.

By default loopback, private, link-local, shared (CGNAT), unspecified, multicast and
reserved addresses are refused, also when embedded in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``,
6to4, NAT64); cloud metadata addresses are refused always. The operator allows hosts by
name and addresses by CIDR with ``PROMPTRAILS_OUTBOUND_ALLOW`` (``settings.OUTBOUND_ALLOW``),
e.g. ``localhost,10.0.0.0/8`` for an Ollama or vLLM server of their own.

URLs the operator sets in the environment (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``)
do not come through here.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anyio
import httpcore
import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services (credentials of the machine): refused even inside an allowed
# network. AWS/GCP/Azure/OpenStack IMDS, AWS ECS task metadata, AWS IMDS over IPv6,
# Alibaba Cloud, Azure's WireServer (a public address).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16",
))
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
ALLOW_SETTING = "PROMPTRAILS_OUTBOUND_ALLOW"


class OutboundRefused(Exception):
    """A URL or address the outbound policy refuses; the message is safe to show a client
    (it names the host the client gave, never what it resolved to)."""


@dataclass(frozen=True)
class Policy:
    """Hosts (exact names) and networks the operator allows beyond public addresses."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Policy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_host_key(entry))
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def allows_host(self, host: str) -> bool:
        return _host_key(host) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks
                   if network.version == address.version)


@lru_cache(maxsize=8)
def _policy(entries: tuple[str, ...]) -> Policy:
    return Policy.parse(entries)


def current_policy() -> Policy:
    """The policy of ``settings.OUTBOUND_ALLOW`` (a list, or a comma-separated string)."""
    raw = getattr(settings, "OUTBOUND_ALLOW", ()) or ()
    entries = raw.split(",") if isinstance(raw, str) else raw
    return _policy(tuple(str(e) for e in entries))


def _host_key(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    return (address.is_global and not address.is_multicast and not address.is_reserved
            and not address.is_unspecified)


def refusal(address: IPAddress | str, *, host: str = "",
            policy: Policy | None = None) -> str | None:
    """Why a connection to ``address`` (resolved from ``host``) is refused, else None.

    Metadata addresses: always. Otherwise public addresses pass, and so does anything the
    policy allows by host name or network (an IPv6 form of an IPv4 address is judged as
    that IPv4 address)."""
    policy = current_policy() if policy is None else policy
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])
    effective = _embedded_ipv4(address) or address
    if address in METADATA_ADDRESSES or effective in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if host and policy.allows_host(host):
        return None
    if policy.allows_address(address) or policy.allows_address(effective):
        return None
    if _is_public(effective):
        return None
    return "not a public address"


def parse_url(url: str) -> httpx.URL:
    """``url`` as httpx reads it, if it is an http(s) URL without userinfo, query string or
    fragment; else :class:`OutboundRefused`."""
    if not isinstance(url, str) or not url:
        raise OutboundRefused("The URL must be a non-empty string.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url) or "\\" in url:
        raise OutboundRefused("The URL must not contain spaces, control characters or "
                              "backslashes.")
    if "?" in url or "#" in url:
        raise OutboundRefused("The URL must not have a query string or fragment.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise OutboundRefused("The URL is not valid.") from None
    if parsed.scheme not in ("http", "https"):
        raise OutboundRefused("The URL must be http:// or https://.")
    if parsed.userinfo or "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        raise OutboundRefused("The URL must not carry a user name or password.")
    if not parsed.raw_host:
        raise OutboundRefused("The URL has no host.")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _check_resolved(host: str, infos: Iterable[tuple[Any, ...]],
                    policy: Policy) -> list[str]:
    """The addresses of ``getaddrinfo`` answers, in order, if every one passes."""
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        reason = refusal(address, host=host, policy=policy)
        if reason is not None:
            logger.warning("outbound connection to %s refused: %s is %s", host, address,
                           reason)
            raise OutboundRefused(f"The host {host!r} is not allowed: it does not resolve "
                                  f"to an allowed address.")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundRefused(f"The host {host!r} does not resolve.")
    return addresses


def check_url(url: str) -> httpx.URL:
    """Parse ``url`` and resolve and check its host now (blocking), for an early error
    when the URL is saved; connections are checked again when they are made."""
    parsed = parse_url(url)
    host = parsed.raw_host.decode("ascii")
    policy = current_policy()
    if policy.allows_host(host):
        return parsed  # allowed by name (it may not resolve yet: a server still starting)
    try:
        infos = socket.getaddrinfo(host, _port(parsed), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise OutboundRefused(f"The host {host!r} is not allowed: it does not resolve to an "
                              "allowed address.") from None
    _check_resolved(host, infos, policy)
    return parsed


async def resolve(host: str, port: int) -> list[str]:
    """The checked addresses of ``host`` (:class:`OutboundRefused` unless all pass)."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
    return _check_resolved(host, infos, current_policy())


S = typing.TypeVar("S")


async def connect_first(addresses: Iterable[str],
                        connect: typing.Callable[[str], typing.Awaitable[S]],
                        errors: tuple[type[Exception], ...]) -> S:
    """The first of the (already checked) addresses that accepts a connection; the last
    failure when none does. Shared by the backends of httpcore and of its fork httpcore2."""
    error: Exception | None = None
    for address in addresses:
        try:
            return await connect(address)
        except errors as exc:
            error = exc
    assert error is not None
    raise error


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to checked addresses: the one it
    wraps (httpcore's AnyIO backend: asyncio) is only ever given an IP address."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        return await connect_first(
            addresses,
            lambda address: self._inner.connect_tcp(address, port, timeout=timeout,
                                                    local_address=local_address,
                                                    socket_options=socket_options),
            (httpcore.ConnectError, httpcore.ConnectTimeout),
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("Unix sockets are not allowed.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verification (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once."""
    return httpx.create_ssl_context()


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response mapping, errors, streaming) over a
    connection pool whose network backend is :class:`CheckedBackend`. httpx takes no
    network backend, so the pool it built is replaced by an equal one that has it."""

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        ssl_context = ssl_context or default_ssl_context()
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(),
        )


def async_client(client_class: type[httpx.AsyncClient] = httpx.AsyncClient,
                 **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client (of ``client_class``, e.g. an SDK's ``DefaultAsyncHttpxClient``)
    whose every connection passes the policy, that follows no redirect and reads no
    proxy from the environment."""
    return client_class(transport=CheckedTransport(), follow_redirects=False,
                        trust_env=False, **kwargs)


def refusal_in(exc: BaseException | None) -> OutboundRefused | None:
    """The :class:`OutboundRefused` that caused ``exc`` (SDKs wrap it), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OutboundRefused):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
