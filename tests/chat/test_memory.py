"""Agent memory across sessions, on the offline model: a fact told in one session is
recalled in the next session of the same user, never in another user's or workspace's."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from agents.models import Memory
from agents.services import demo_agent_ensure
from chat.models import Session
from tests.helpers import Tenant
from tests.support.live import ensure_local_model

BASE = "/api/v1/chat/sessions"
pytestmark = pytest.mark.django_db(transaction=True)


def _memory_agent(tenant: Tenant) -> Any:
    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    version = agent.versions.get(is_current=True)
    version.config = {**version.config, "memory": {"enabled": True, "max_injected": 3}}
    version.save(update_fields=["config"])
    tenant.workspace.config_revision += 1
    tenant.workspace.save(update_fields=["config_revision"])
    return agent


def _say(tenant: Tenant, agent: Any, user: str, content: str) -> str:
    session = Session.objects.create(workspace=tenant.workspace, agent=agent,
                                     metadata={"user_id": user})
    response = tenant.client.post(f"{BASE}/{session.id}/messages", {"content": content},
                                  format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["data"]["content"])


def test_the_offline_model_remembers_across_sessions_of_one_user_only(
        tenant: Tenant, other_tenant: Tenant) -> None:
    agent = _memory_agent(tenant)
    saved = _say(tenant, agent, "u1", "Please remember that my favourite colour is teal.")
    assert "I will remember that" in saved
    memory = Memory.objects.get()
    assert (memory.subject, memory.workspace_id, memory.agent_id) == (
        "u1", tenant.workspace.pk, agent.pk)
    assert memory.content == "my favourite colour is teal."

    recalled = _say(tenant, agent, "u1", "What do you remember?")
    assert "my favourite colour is teal" in recalled
    assert _say(tenant, agent, "u2", "What do you remember?").endswith("Nothing remembered.")
    other = _memory_agent(other_tenant)
    assert "teal" not in _say(other_tenant, other, "u1", "What do you remember?")
    memory.refresh_from_db()
    assert memory.access_count >= 2  # injected and recalled in session 2

    # deleting the sessions keeps the memories; the purge option forgets a subject
    Session.objects.all().delete()
    assert Memory.objects.count() == 1
    out = StringIO()
    call_command("purge_sessions", "--forget-subject", "u1", stdout=out)
    assert "deleted 1 memory" in out.getvalue()
    assert not Memory.objects.exists()
