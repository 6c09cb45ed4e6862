"""The outbound-URL gate (promptrails.outbound): parsing, the address policy, the operator's
allowlist, and the checked client: every connection resolved, checked and pinned, no
redirect followed. Servers are real local listeners; only DNS answers are scripted where a
test needs a name that does not exist."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import pytest
from httpcore import SOCKET_OPTION

from agents.runtime.providers import check_credentials
from agents.runtime.types import ModelSpec
from promptrails import outbound
from promptrails.outbound import OutboundRefused, Policy, check_url, parse_url, refusal
from tests.fakes.static_server import StaticServer
from tests.support.dns import fake_dns

LOCALHOST_RESOLVES = bool(socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))


@pytest.fixture
def no_allowlist(settings: Any) -> None:
    settings.OUTBOUND_ALLOW = []


# --- parse_url ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://api.example.com/v1?q=",
    "http://api.example.com/v1?",
    "http://api.example.com/v1#frag",
    "http://api.example.com/v1#",
    "http://user:pw@api.example.com/v1",
    "https://admin@api.example.com/v1",
    "http://api.example.com\\@127.0.0.1/v1",
    "ftp://api.example.com/v1",
    "file:///etc/passwd",
    "gopher://api.example.com/",
    "http:///v1",
    "http://api.example.com /v1",
    "http://api.example.com/v1\n",
    "",
])
def test_parse_url_refuses(url: str) -> None:
    with pytest.raises(OutboundRefused):
        parse_url(url)


def test_parse_url_accepts_plain_http_and_https() -> None:
    assert parse_url("https://api.example.com/v1").host == "api.example.com"
    assert parse_url("http://api.example.com:8080").port == 8080


# --- the address policy -------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "::1",  # loopback
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "fc00::1",  # private
    "169.254.1.1", "fe80::1",  # link-local
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16",  # metadata
    "0.0.0.0", "::",  # unspecified
    "224.0.0.1", "ff02::1",  # multicast
    "240.0.0.1", "255.255.255.255",  # reserved
    "100.64.0.1",  # shared (CGNAT)
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "2002:7f00:1::", "64:ff9b::a00:1",  # 6to4, NAT64 of private addresses
])
def test_refused_by_default(address: str) -> None:
    assert refusal(address, policy=Policy()) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address, policy=Policy()) is None


def test_allowlist_names_hosts_and_networks() -> None:
    policy = Policy.parse(["localhost", " 10.0.0.0/8 ", "[::1]", "Ollama.Internal.", ""])
    assert refusal("10.1.2.3", policy=policy) is None
    assert refusal("::ffff:10.1.2.3", policy=policy) is None  # judged as its IPv4 form
    assert refusal("::1", policy=policy) is None
    assert refusal("192.168.1.1", policy=policy) is not None
    assert refusal("127.0.0.1", policy=policy) is not None  # not listed
    assert refusal("127.0.0.1", host="localhost", policy=policy) is None  # by name
    assert refusal("192.168.1.9", host="ollama.internal", policy=policy) is None


def test_metadata_is_refused_even_inside_an_allowed_network() -> None:
    policy = Policy.parse(["169.254.0.0/16", "fd00::/8", "metadata.google.internal"])
    assert refusal("169.254.10.10", policy=policy) is None
    assert refusal("169.254.169.254", policy=policy) is not None
    assert refusal("::ffff:169.254.169.254", policy=policy) is not None
    assert refusal("fd00:ec2::254", policy=policy) is not None
    assert refusal("169.254.169.254", host="metadata.google.internal", policy=policy)


# --- check_url (parse, resolve, check) ----------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:11434/v1",
    "http://[::1]:8000/v1",
    "http://[::ffff:127.0.0.1]:8000/v1",
    "http://0.0.0.0:8000/v1",
    "http://2130706433:8000/v1",  # 127.0.0.1 as one number: resolved, then refused
    "http://10.0.0.5/v1",
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/latest",
])
def test_check_url_refuses_internal_addresses(url: str, no_allowlist: None) -> None:
    with pytest.raises(OutboundRefused):
        check_url(url)


@pytest.mark.skipif(not LOCALHOST_RESOLVES, reason="no resolver for localhost")
def test_check_url_refuses_a_name_resolving_to_loopback(no_allowlist: None) -> None:
    with pytest.raises(OutboundRefused, match="localhost"):
        check_url("http://localhost:11434/v1")


def test_the_setting_allows_named_hosts_and_cidrs(settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["localhost", "10.0.0.0/8"]
    check_url("http://localhost:11434/v1")
    check_url("http://10.1.2.3:8000/v1")
    with pytest.raises(OutboundRefused):
        check_url("http://192.168.1.1/v1")
    with pytest.raises(OutboundRefused):
        check_url("http://127.0.0.1/v1")  # the name is allowed, not its address
    settings.OUTBOUND_ALLOW = "127.0.0.0/8, ollama.internal"  # the env var's form
    check_url("http://127.0.0.1/v1")
    check_url("http://ollama.internal:11434/v1")  # allowed by name: not resolved now


# --- the checked client: every connection ----------------------------------------------------


async def test_the_checked_client_refuses_loopback_before_connecting(no_allowlist: None) -> None:
    with StaticServer() as server:
        async with outbound.async_client() as client:
            with pytest.raises(OutboundRefused):
                await client.get(f"{server.base_url}/models")
        assert server.requests == []


async def test_the_checked_client_connects_when_allowed(settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    with StaticServer(body=b'{"ok": true}') as server:
        async with outbound.async_client() as client:
            response = await client.get(f"{server.base_url}/models")
        assert response.json() == {"ok": True} and len(server.requests) == 1


class _Recording(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.hosts: list[str] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        return await self.inner.connect_tcp(host, port, timeout=timeout,
                                            local_address=local_address,
                                            socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def test_the_connection_goes_to_the_checked_address(settings: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS answers once, the check sees that answer and the socket connects to it: the name
    # is never resolved again (no window for a second, different answer).
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    calls = fake_dns(monkeypatch, {"model.test": ["127.0.0.1"],
                                   "rebind.test": ["8.8.8.8", "127.0.0.1"]})
    recording = _Recording()
    backend = outbound.CheckedBackend(inner=recording)
    with StaticServer() as server:
        stream = await backend.connect_tcp("model.test", server.port, timeout=5)
        await stream.aclose()
        assert calls == ["model.test"] and recording.hosts == ["127.0.0.1"]
        settings.OUTBOUND_ALLOW = []
        calls.clear()
        with pytest.raises(OutboundRefused):  # one refused address refuses the name
            await backend.connect_tcp("rebind.test", server.port, timeout=5)
        assert recording.hosts == ["127.0.0.1"] and server.requests == []


async def test_a_redirect_to_a_refused_address_is_not_followed(settings: Any) -> None:
    if not LOCALHOST_RESOLVES:
        pytest.skip("no resolver for localhost")
    settings.OUTBOUND_ALLOW = ["localhost"]  # the name, not 127.0.0.1
    with StaticServer() as target:
        location = f"{target.base_url}/models"
        with StaticServer(status=302, headers={"Location": location}) as redirector:
            base_url = f"http://localhost:{redirector.port}/v1"
            spec = ModelSpec("openai", "m", api_key="sk-workspace-key-123", base_url=base_url)
            ok, error = await check_credentials(spec)
            assert not ok and "302" in (error or "")
            assert len(redirector.requests) == 1
            # even a caller asking to follow it: the new connection is checked again
            async with outbound.async_client() as client:
                with pytest.raises(OutboundRefused):
                    await client.get(f"{base_url}/models", follow_redirects=True)
        assert target.requests == []


async def test_a_refusal_is_a_clear_non_retryable_provider_error(no_allowlist: None) -> None:
    from agents.runtime.providers import get_provider
    from agents.runtime.types import Message, ModelRequest, ProviderError

    with StaticServer() as server:
        spec = ModelSpec("openai", "m", api_key="sk-workspace-key-123",
                         base_url=server.base_url)
        request = ModelRequest(model=spec, system="", messages=(Message("user", "hi"),))
        with pytest.raises(ProviderError) as info:
            async for _ in get_provider("openai").stream(request):
                pass
        assert not info.value.retryable and "refused" in info.value.message
        ok, error = await check_credentials(spec)
        assert not ok and "refused" in (error or "")
        assert server.requests == []


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(OutboundRefused):
        await outbound.CheckedBackend().connect_unix_socket("/var/run/docker.sock")


def test_allowlist_entries_are_normalized() -> None:
    # an entry that is neither an address nor a network is a host name (it matches nothing)
    assert Policy.parse(["10.0.0.0/33"]).hosts == frozenset({"10.0.0.0/33"})
    assert Policy.parse(["a.example", "A.EXAMPLE."]).hosts == frozenset({"a.example"})
