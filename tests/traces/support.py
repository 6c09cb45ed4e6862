"""Traces test helpers: a tenant chatting with the demo agent over the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.services import demo_agent_ensure
from executions.models import Execution
from tests.helpers import Tenant
from tests.support.live import ensure_local_model

SESSIONS = "/api/v1/chat/sessions"
TOOL_QUESTION = "what is 6*7?"


@dataclass
class Chat:
    """A tenant with the demo agent (offline model; calls the calculator for 6*7)."""

    tenant: Tenant
    agent_id: str

    def session(self, agent_id: str | None = None) -> str:
        response = self.tenant.client.post(SESSIONS, {"agent_id": agent_id or self.agent_id},
                                           format="json")
        assert response.status_code == 201, response.content
        return str(response.json()["data"]["id"])

    def send(self, session_id: str, content: str = TOOL_QUESTION,
             status: int = 201) -> Execution:
        response = self.tenant.client.post(f"{SESSIONS}/{session_id}/messages",
                                           {"content": content}, format="json")
        assert response.status_code == status, response.content
        execution = Execution.objects.filter(session_id=session_id).order_by("-created_at").first()
        assert execution is not None
        return execution


def make_chat(tenant: Tenant) -> Chat:
    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    return Chat(tenant=tenant, agent_id=agent.id)


def get(tenant: Tenant, path: str, **params: Any) -> Any:
    return tenant.client.get(path, params)
