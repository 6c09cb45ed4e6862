"""PROMPTRAILS_MAX_REQUEST_BYTES while the body is read, chunked bodies too (live server)."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings

from tests.live import LiveServer
from tests.support.live import LiveTenant, make_live_tenant

FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture
def live_tenant(live: LiveServer) -> LiveTenant:
    return make_live_tenant(live, "Body limits")


def _upload(url: str, path: str, *, total: int, chunked: bool,
            headers: dict[str, str] | None = None) -> tuple[int, bytes, int]:
    """POST `total` bytes to `path` on a raw socket, as fast as the server takes them, and
    stop sending as soon as a response arrives: (status, response body, bytes sent)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # little held back here
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{framing}\r\n"
                 f"Content-Type: application/json\r\n{extra}\r\n".encode())
    piece = b"x" * 65536
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sock.setblocking(False)
    sent, pending, response = 0, b"", b""
    deadline = time.monotonic() + 60
    try:
        while sent < total and not response:
            assert time.monotonic() < deadline, f"no response after {sent} bytes"
            readable, writable, _ = select.select([sock], [sock], [], 10)
            assert readable or writable, f"the server neither reads nor answers ({sent} sent)"
            if readable:
                response = sock.recv(65536)
                break
            pending = pending or frame
            try:
                count = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            pending, sent = pending[count:], sent + count
        sock.setblocking(True)
        sock.settimeout(10)
        with_body = b"\r\n\r\n" in response and _complete(response)
        while not with_body:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            response += data
            with_body = _complete(response)
    finally:
        sock.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head, f"no response at all after sending {sent} bytes"
    return int(head.split(b" ", 2)[1]), body, sent


def _complete(response: bytes) -> bool:
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _assert_too_large(status: int, body: bytes) -> None:
    assert status == 413, (status, body[:200])
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"max_bytes": settings.MAX_REQUEST_BYTES}


def test_a_huge_chunked_body_is_refused_without_reading_it(live: LiveServer) -> None:
    status, body, sent = _upload(live.url, "/api/v1/chat/sessions", total=FIFTY_MB,
                                 chunked=True)
    _assert_too_large(status, body)
    # the answer came once the limit (1 MB) was passed, not after the 50 MB: what was sent
    # beyond it sits in the sockets' buffers at most (a few MB)
    assert sent < FIFTY_MB // 4, sent


@pytest.mark.parametrize("path", ["/api/v1/chat/sessions", "/admin/login/", "/login"])
def test_a_huge_declared_body_is_refused_before_reading_on_every_route(
    live: LiveServer, path: str,
) -> None:
    status, body, sent = _upload(live.url, path, total=FIFTY_MB, chunked=False)
    _assert_too_large(status, body)
    assert sent < FIFTY_MB // 4, sent


def _chunks(payload: dict[str, Any], size: int = 7) -> Iterator[bytes]:
    raw = json.dumps(payload).encode()
    for start in range(0, len(raw), size):
        yield raw[start:start + size]


def test_chunked_bodies_within_the_limit_are_read_whole(live_tenant: LiveTenant) -> None:
    api = httpx.Client(base_url=live_tenant.server.url,
                       headers={"X-API-Key": live_tenant.tenant.raw_key,
                                "Content-Type": "application/json"}, timeout=30)
    with api:
        # a DRF view (it took a body without Content-Length for an empty one)
        created = api.post("/api/v1/chat/sessions", content=_chunks(
            {"agent_id": live_tenant.agent_id, "title": "sent in chunks",
             "metadata": {"via": "chunked"}}))
        assert created.status_code == 201, created.text
        session = created.json()["data"]
        assert session["title"] == "sent in chunks" and session["metadata"] == {"via": "chunked"}
        # an async view
        sent = api.post(f"/api/v1/chat/sessions/{session['id']}/messages",
                        content=_chunks({"content": "hello in chunks"}))
        assert sent.status_code == 201, sent.text
        messages = api.get(f"/api/v1/chat/sessions/{session['id']}/messages").json()["data"]
        assert messages[0]["role"] == "user" and messages[0]["content"] == "hello in chunks"
        # past the limit on the async view: the 413 envelope, not a 500
        too_big = api.post(f"/api/v1/chat/sessions/{session['id']}/messages", content=_chunks(
            {"content": "x" * (settings.MAX_REQUEST_BYTES + 10)}, size=65536))
        _assert_too_large(too_big.status_code, too_big.content)
        # and exactly at the limit it is read (then judged by the view: too long a message)
        padding = settings.MAX_REQUEST_BYTES - len(json.dumps({"content": ""}).encode())
        at_limit = api.post(f"/api/v1/chat/sessions/{session['id']}/messages", content=_chunks(
            {"content": "y" * padding}, size=65536))
        assert at_limit.status_code == 400, at_limit.text
        assert at_limit.json()["error"]["code"] == "validation_error"
