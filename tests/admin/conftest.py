from __future__ import annotations

import pytest
from django.test import Client

from agents.models import Agent
from promptrails.models import Workspace
from tests.admin.support import World, grant_staff, make_session


@pytest.fixture
def world(db: None) -> World:
    a = Workspace.objects.create(name="Workspace A")
    b = Workspace.objects.create(name="Workspace B")
    agent_a = Agent.objects.create(workspace=a, name="Agent A")
    agent_b = Agent.objects.create(workspace=b, name="Agent B")
    w = World(a=a, b=b, agent_a=agent_a, agent_b=agent_b)
    w.sessions["web"] = make_session(a, agent_a, "Web chat", {"channel": "web", "user_id": "ext-1"},
                                     content="refund please")
    w.sessions["app"] = make_session(a, agent_a, "App chat", {"channel": "app", "lang": "en"},
                                     content="where is my parcel")
    w.sessions["secret"] = make_session(b, agent_b, "Secret B chat",
                                        {"channel": "web", "tenant_b_key": "bee"},
                                        content="confidential b")
    return w


@pytest.fixture
def member_client(world: World) -> Client:
    """A staff member (not superuser) of workspace A, with full model permissions."""
    client = Client()
    client.force_login(grant_staff("staff-a", world.a))
    return client
