from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from agents.models import LLMModel
from agents.services import demo_agent_ensure
from tests.helpers import Tenant, make_tenant
from tests.live import LiveServer
from tests.sdk import PromptRails


def ensure_local_model() -> None:
    """The offline model row (transactional tests flush the seeded registry)."""
    LLMModel.objects.get_or_create(
        provider="local", model_id="echo",
        defaults={"display_name": "Offline echo", "max_tokens": 32768},
    )


@dataclass
class LiveTenant:
    tenant: Tenant
    agent_id: str
    server: LiveServer
    sdk: Any


@pytest.fixture
def live_tenant(live: LiveServer) -> LiveTenant:
    ensure_local_model()
    tenant = make_tenant("Live A")
    agent = demo_agent_ensure(workspace=tenant.workspace)
    client = PromptRails(api_key=tenant.raw_key, base_url=live.url, max_retries=0)
    return LiveTenant(tenant=tenant, agent_id=agent.id, server=live, sdk=client)


@pytest.fixture
def live_factory_slow(slow_server: LiveServer, transactional_db: None) -> LiveTenant:
    ensure_local_model()
    tenant = make_tenant("Live slow")
    agent = demo_agent_ensure(workspace=tenant.workspace)
    client = PromptRails(api_key=tenant.raw_key, base_url=slow_server.url, max_retries=0)
    return LiveTenant(tenant=tenant, agent_id=agent.id, server=slow_server, sdk=client)


def make_live_tenant(server: LiveServer, name: str = "Live A") -> LiveTenant:
    """A tenant with the demo agent and an SDK client on `server` (needs transactional_db)."""
    ensure_local_model()
    tenant = make_tenant(name)
    agent = demo_agent_ensure(workspace=tenant.workspace)
    client = PromptRails(api_key=tenant.raw_key, base_url=server.url, max_retries=0)
    return LiveTenant(tenant=tenant, agent_id=agent.id, server=server, sdk=client)


_SLOW: dict[str, LiveServer] = {}


@pytest.fixture(scope="session")
def slow_server(live_server_factory: Any) -> LiveServer:
    """A server whose local model is slow (30 ms a word) and whose SSE keepalive is 0.3 s;
    its outbound policy allows 127.0.0.1 (agents there may run on the fake providers).

    One per test process, also when tests/executions imports this fixture.
    """
    server = _SLOW.get("server")
    if server is None or server.process.poll() is not None:
        server = _SLOW["server"] = live_server_factory(
            PROMPTRAILS_LOCAL_MODEL_DELAY="0.03", PROMPTRAILS_SSE_KEEPALIVE_SECONDS="0.3",
            PROMPTRAILS_OUTBOUND_ALLOW="127.0.0.1")
    return server


@pytest.fixture
def slow_tenant(slow_server: LiveServer, transactional_db: None) -> LiveTenant:
    if slow_server.process.poll() is not None:
        pytest.fail(f"the slow server died:\n{slow_server.log()}")
    return make_live_tenant(slow_server, "Slow A")
