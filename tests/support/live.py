"""Tenants on a live server: the offline model row, the demo agent and an SDK client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    sdk: Any  # the SDK is loaded under an alias at run time (tests/sdk.py): no static type


def make_live_tenant(server: LiveServer, name: str = "Live A") -> LiveTenant:
    """A tenant with the demo agent and an SDK client on `server` (needs transactional_db)."""
    ensure_local_model()
    tenant = make_tenant(name)
    agent = demo_agent_ensure(workspace=tenant.workspace)
    client = PromptRails(api_key=tenant.raw_key, base_url=server.url, max_retries=0)
    return LiveTenant(tenant=tenant, agent_id=agent.id, server=server, sdk=client)
