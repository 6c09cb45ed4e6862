"""The aiohttp transport of the model SDKs (promptrails/outbound_aiohttp.py): the same
outbound policy as the httpx one — address literals and resolved names are checked before
any connection, a redirect is never followed to an unchecked address — and aiohttp's
failures arrive as httpx's, so the SDKs map them as before."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from promptrails import outbound_aiohttp
from promptrails.outbound import OutboundRefused
from tests.fakes.static_server import StaticServer
from tests.support.dns import fake_dns


def _client(checked: bool = True) -> httpx.AsyncClient:
    return outbound_aiohttp.async_client(checked=checked)


async def test_an_address_literal_is_checked_before_connecting(settings: Any) -> None:
    settings.OUTBOUND_ALLOW = []
    with StaticServer() as server:
        async with _client() as client:
            with pytest.raises(OutboundRefused):
                await client.get(f"{server.base_url}/models")
        assert server.requests == []


async def test_a_name_is_resolved_once_and_every_address_checked(
    settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    calls = fake_dns(monkeypatch, {"model.test": ["127.0.0.1"],
                                   "rebind.test": ["8.8.8.8", "127.0.0.1"]})
    with StaticServer(body=b'{"ok": true}') as server:
        async with _client() as client:
            response = await client.get(f"http://model.test:{server.port}/v1/models")
            assert response.json() == {"ok": True}
            assert calls == ["model.test"] and len(server.requests) == 1
            settings.OUTBOUND_ALLOW = []
            with pytest.raises(OutboundRefused):  # one refused address refuses the name
                await client.get(f"http://rebind.test:{server.port}/v1/models")
        assert len(server.requests) == 1


async def test_a_redirect_is_not_followed_unless_asked_and_then_checked(
    settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.OUTBOUND_ALLOW = ["redirector.test"]  # the name, not 127.0.0.1
    looked_up = fake_dns(monkeypatch, {"redirector.test": ["127.0.0.1"],
                                       "127.0.0.1": ["127.0.0.1"]})
    with StaticServer() as target:
        with StaticServer(status=302, headers={"Location": f"{target.base_url}/models"}) \
                as redirector:
            url = f"http://redirector.test:{redirector.port}/v1/models"
            async with _client() as client:
                response = await client.get(url)
                assert response.status_code == 302 and len(redirector.requests) == 1
                with pytest.raises(OutboundRefused):  # asked to follow: checked again
                    await client.get(url, follow_redirects=True)
        assert len(redirector.requests) == 2 and target.requests == []
        assert looked_up[-1] == "127.0.0.1"  # the redirect target, checked and refused


async def test_failures_arrive_as_httpx_errors(settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with _client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/v1/models")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with _client() as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"http://127.0.0.1:{port}/v1/models",
                                 timeout=httpx.Timeout(5, read=0.2))
    finally:
        server.close()


async def test_an_environment_url_is_not_checked(settings: Any) -> None:
    settings.OUTBOUND_ALLOW = []
    with StaticServer(body=b'{"ok": true}') as server:
        async with _client(checked=False) as client:
            response = await client.get(f"{server.base_url}/models")
        assert response.json() == {"ok": True}
