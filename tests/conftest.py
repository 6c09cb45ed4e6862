from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PROMPTRAILS_LOCAL_MODEL_DELAY", "0")

from tests.fakes.fixtures import allow_loopback, fake_anthropic, fake_openai  # noqa: E402,F401
from tests.helpers import Tenant, make_tenant  # noqa: E402
from tests.live import LiveServer, start_server  # noqa: E402


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Tenant A")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Tenant B")


def _db_settings() -> dict[str, Any]:
    from django.db import connection

    return dict(connection.settings_dict)


@pytest.fixture(scope="session")
def live_server_factory(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Start extra ASGI servers on the test database (each stopped at the end of the run)."""
    servers: list[LiveServer] = []
    tmp = tmp_path_factory.mktemp("servers")

    def factory(**env: str) -> LiveServer:
        server = start_server(_db_settings(), Path(tmp), **env)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def sweeping_servers(
    django_db_setup: None, transactional_db: None, tmp_path: Path
) -> Iterator[Any]:
    """Start ASGI servers whose housekeeping sweeps (stale runs, overdue approvals); each is
    stopped at the end of the test, so no sweep reaches into another test's data."""
    servers: list[LiveServer] = []

    def factory(**env: str) -> LiveServer:
        server = start_server(_db_settings(), tmp_path, PROMPTRAILS_SWEEPS="1", **env)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def asgi_server(live_server_factory: Any) -> LiveServer:
    """One uvicorn process serving the ASGI app on the test database, for the session."""
    return live_server_factory()


@pytest.fixture
def live(asgi_server: LiveServer, transactional_db: None) -> LiveServer:
    """The shared live server, with committed data visible to it (flushed after the test)."""
    if asgi_server.process.poll() is not None:
        pytest.fail(f"the live server died:\n{asgi_server.log()}")
    return asgi_server
