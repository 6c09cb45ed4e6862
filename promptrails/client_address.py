"""The address a request comes from, as far as this server may believe it (sign-in limits).

`X-Forwarded-For` is honoured only when the immediate peer is a trusted proxy
(`settings.TRUSTED_PROXIES`: addresses or networks, none by default); the client is then the
right-most address of the header that is not itself a trusted proxy (each proxy appends the
address it saw). From any other peer the header is ignored: a client choosing its own address
would get a fresh sign-in budget with every request.

An ASGI server may have taken the peer from the header already, before the application
sees it: uvicorn does for loopback peers unless started with `--forwarded-allow-ips` (its
default is 127.0.0.1). When no proxy is trusted here yet the peer is one of the header's
addresses, the real peer is unknown: such requests all count under one key rather than one
per address the header names (and a warning says to align the two settings).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings

logger = logging.getLogger("promptrails.security")
FORWARDED_UNKNOWN = "forwarded"
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_warned = False


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def trusted_proxy_networks() -> tuple[_Network, ...]:
    """settings.TRUSTED_PROXIES parsed (a bad entry raises ValueError naming it)."""
    return _networks(tuple(settings.TRUSTED_PROXIES))


def _host(hop: str) -> str:
    """An X-Forwarded-For entry without its port ("1.2.3.4:80", "[::1]:80", "::1")."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1:hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


def _trusted(host: str, networks: tuple[_Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_address(meta: Mapping[str, Any]) -> str:
    """The client's address for a request's META (REMOTE_ADDR, HTTP_X_FORWARDED_FOR)."""
    peer = str(meta.get("REMOTE_ADDR") or "")
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR") or "")
    if not forwarded:
        return peer or "unknown"
    hops = [host for host in (_host(hop) for hop in forwarded.split(",")) if host]
    networks = trusted_proxy_networks()
    if networks and _trusted(peer, networks):
        for hop in reversed(hops):
            if not _trusted(hop, networks):
                return hop[:64]
        return hops[0][:64] if hops else peer
    if not networks and peer in hops:
        _warn_server_trusts_forwarded()
        return FORWARDED_UNKNOWN
    return peer or "unknown"


def _warn_server_trusts_forwarded() -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning(
            "The ASGI server took the client address from X-Forwarded-For, but "
            "PROMPTRAILS_TRUSTED_PROXIES is empty: sign-in attempts of all such requests are "
            "counted together. Behind a proxy, set PROMPTRAILS_TRUSTED_PROXIES to its address "
            "and start uvicorn with the same --forwarded-allow-ips (or --no-proxy-headers); "
            "without one, start it with --forwarded-allow-ips ''.")
