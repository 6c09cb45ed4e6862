"""A fake resolver for the outbound policy's checks (promptrails/outbound.py resolves with
``anyio.getaddrinfo``): names answer the addresses given, and every lookup is recorded."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from promptrails import outbound


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Resolve each name in ``answers`` to its addresses; returns the names looked up, in
    order (a name not in ``answers`` fails the lookup with KeyError)."""
    calls: list[str] = []

    async def fake_getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(outbound.anyio, "getaddrinfo", fake_getaddrinfo)
    return calls
