"""Pytest fixtures for the fake provider servers.

A pytest plugin, registered with ``pytest_plugins`` in tests/conftest.py (so every test
can ask for ``fake_openai``, ``fake_anthropic`` or ``allow_loopback``).

Each fixture yields a process-wide server (started lazily on a free port, stopped at
exit) after resetting its reply queue, recorded requests, default reply and api_key.
Safe under pytest-xdist (each worker process has its own servers).

The servers listen on 127.0.0.1, which the outbound policy refuses for URLs a workspace
(or the model registry) chooses: using one allows that address for the test, as an
operator would with ``PROMPTRAILS_OUTBOUND_ALLOW=127.0.0.1`` (``allow_loopback``; tests
with a loopback server of their own ask for it explicitly).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from .anthropic_server import FakeAnthropicServer
from .openai_server import FakeOpenAIServer
from .server import FakeServer

_servers: dict[str, FakeServer] = {}
_lock = threading.Lock()


def _get(kind: str) -> FakeServer:
    with _lock:
        server = _servers.get(kind)
        if server is None:
            server = FakeOpenAIServer() if kind == "openai" else FakeAnthropicServer()
            server.start()
            _servers[kind] = server
            atexit.register(server.stop)
        return server


LOOPBACK = "127.0.0.1"


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    """The outbound policy allows 127.0.0.1 for this test (restored after it)."""
    settings.OUTBOUND_ALLOW = [*getattr(settings, "OUTBOUND_ALLOW", []), LOOPBACK]


@pytest.fixture
def fake_openai(allow_loopback: None) -> Iterator[FakeOpenAIServer]:
    server = _get("openai")
    assert isinstance(server, FakeOpenAIServer)
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def fake_anthropic(allow_loopback: None) -> Iterator[FakeAnthropicServer]:
    server = _get("anthropic")
    assert isinstance(server, FakeAnthropicServer)
    server.reset()
    yield server
    server.reset()
