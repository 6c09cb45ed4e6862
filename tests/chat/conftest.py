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
