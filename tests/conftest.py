from __future__ import annotations

import os

import pytest

os.environ.setdefault("PROMPTRAILS_LOCAL_MODEL_DELAY", "0")

from tests.helpers import Tenant, make_tenant  # noqa: E402

# Shared fixtures, as plugins (test modules never import a conftest):
#   tests.fixtures.live  live servers (live, asgi_server, slow_server, ...) and tenants on them
#   tests.fakes.fixtures the fake OpenAI/Anthropic servers and allow_loopback
pytest_plugins = ["tests.fixtures.live", "tests.fakes.fixtures"]


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Tenant A")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Tenant B")
