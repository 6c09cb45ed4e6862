from __future__ import annotations

import os

import pytest

os.environ.setdefault("PROMPTRAILS_LOCAL_MODEL_DELAY", "0")

from tests.helpers import Tenant, make_tenant  # noqa: E402

# Shared fixtures, as plugins (test modules never import a conftest):
#   tests.fixtures.live  live servers (live, asgi_server, slow_server, ...) and tenants on them
#   tests.fakes.fixtures the fake OpenAI/Anthropic servers and allow_loopback
pytest_plugins = ["tests.fixtures.live", "tests.fakes.fixtures"]

# A test whose fixtures (directly or through other fixtures) include one of these starts or
# uses a live server: it gets the `live` marker (tests/README.md). Every server fixture in
# tests/ is built on live_server_factory or sweeping_servers, so new ones are marked too;
# live_server is pytest-django's threaded server (the admin's Chromium tests).
LIVE_FIXTURES = frozenset({
    "live_server_factory", "sweeping_servers", "asgi_server", "live", "slow_server",
    "redis_down_server", "live_server",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Tenant A")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Tenant B")
