"""Memory admin (scoped like the others) and the session's current summary on its page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from agents.memories import memory_create
from agents.models import Memory
from chat.models import Session, Summary
from tests.admin.support import World


@pytest.fixture
def memories(world: World) -> dict[str, Memory]:
    staff = User.objects.filter(username="staff-a").first()
    if staff is not None:
        staff.user_permissions.add(*Permission.objects.filter(
            content_type__app_label="agents", content_type__model="memory"))
    return {
        "tea": memory_create(workspace=world.a, agent=world.agent_a,
                             data={"content": "Likes green tea", "subject": "ext-1",
                                   "memory_type": "preference"}),
        "rule": memory_create(workspace=world.a, agent=world.agent_a,
                              data={"content": "Answer in English"}),
        "secret": memory_create(workspace=world.b, agent=world.agent_b,
                                data={"content": "Secret B fact", "subject": "ext-b"}),
    }


def _listed(client: Any, query: str = "") -> set[str]:
    response = client.get(f"/admin/agents/memory/{query}")
    assert response.status_code == 200, response.content[:1000]
    return {m.content for m in response.context["cl"].result_list}


def test_member_sees_only_own_workspace_memories(member_client: Any, admin_client: Any,
                                                 memories: dict[str, Memory]) -> None:
    assert _listed(member_client) == {"Likes green tea", "Answer in English"}
    html = member_client.get("/admin/agents/memory/").content.decode()
    assert "Secret B fact" not in html and memories["secret"].pk not in html
    secret = memories["secret"].pk
    for suffix in ("change/", "delete/", "history/"):
        response = member_client.get(f"/admin/agents/memory/{secret}/{suffix}")
        assert response.status_code in (302, 404), suffix
    assert _listed(member_client, "?q=Secret") == set()
    assert _listed(member_client, "?subject=ext-b") == set()
    # The superuser sees every workspace's.
    assert "Secret B fact" in _listed(admin_client)
    assert admin_client.get(f"/admin/agents/memory/{secret}/change/").status_code == 200


def test_search_and_filters(member_client: Any, world: World,
                            memories: dict[str, Memory]) -> None:
    assert _listed(member_client, "?q=tea") == {"Likes green tea"}
    assert _listed(member_client, "?q=ext-1") == {"Likes green tea"}
    assert _listed(member_client, "?memory_type__exact=fact") == {"Answer in English"}
    assert _listed(member_client, f"?agent__id__exact={world.agent_a.pk}") == {
        "Likes green tea", "Answer in English"}
    # The agent filter offers only the member's workspaces' agents.
    html = member_client.get("/admin/agents/memory/").content.decode()
    assert "Agent A" in html and "Agent B" not in html


def test_member_edits_and_deletes_own_memory(member_client: Any,
                                             memories: dict[str, Memory]) -> None:
    tea = memories["tea"]
    url = reverse("admin:agents_memory_change", args=[tea.pk])
    response = member_client.post(url, {"subject": "ext-1", "memory_type": "preference",
                                        "importance": "0.9", "content": "Likes black tea"})
    assert response.status_code == 302, response.content[:2000]
    tea.refresh_from_db()
    assert tea.content == "Likes black tea" and tea.importance == 0.9
    assert member_client.post(reverse("admin:agents_memory_delete", args=[tea.pk]),
                              {"post": "yes"}).status_code == 302
    assert not Memory.objects.filter(pk=tea.pk).exists()
    assert member_client.post(
        reverse("admin:agents_memory_delete", args=[memories["secret"].pk]),
        {"post": "yes"}).status_code in (302, 403, 404)
    assert Memory.objects.filter(pk=memories["secret"].pk).exists()
    assert member_client.get("/admin/agents/memory/add/").status_code == 403


def test_session_page_shows_current_summary_above_conversation(member_client: Any,
                                                                world: World) -> None:
    session = world.sessions["web"]
    url = reverse("admin:chat_session_change", args=[session.pk])
    assert "current-summary" not in member_client.get(url).content.decode()
    first = session.messages.order_by("id").first()
    assert first is not None
    summary = Summary.objects.create(session=session, covers_until_message_id=first.pk,
                                     content="The user asked for a <b>refund</b>.",
                                     messages_folded=1, model="m1")
    Session.objects.filter(pk=session.pk).update(summary=summary)
    html = member_client.get(url).content.decode()
    assert "current-summary" in html
    assert "The user asked for a &lt;b&gt;refund&lt;/b&gt;." in html  # escaped
    assert f'href="#message-{first.pk}"' in html
    assert html.index("current-summary") < html.index('class="conversation"')
