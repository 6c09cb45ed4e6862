"""Chat sessions over REST (docs/api.md §2): list and filters, create, get, patch, delete."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.models import Agent
from agents.services import agent_create, demo_agent_ensure
from chat.models import Feedback, Message, Session
from executions.models import Execution
from executions.services import execution_create
from tests.helpers import Tenant, assert_error, assert_isolated
from tests.support.live import ensure_local_model

BASE = "/api/v1/chat/sessions"


@pytest.fixture
def agent(tenant: Tenant) -> Agent:
    ensure_local_model()
    return demo_agent_ensure(workspace=tenant.workspace)


def create(tenant: Tenant, body: Any) -> dict[str, Any]:
    response = tenant.client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


def listed(tenant: Tenant, query: str = "") -> dict[str, Any]:
    response = tenant.client.get(f"{BASE}{query}")
    assert response.status_code == 200, response.content
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [s["id"] for s in body["data"]]


# -- create -------------------------------------------------------------------------


def test_create_returns_201_with_the_session_object(tenant: Tenant, agent: Agent) -> None:
    data = create(tenant, {"agent_id": agent.id, "title": "Support", "user_id": "u-1",
                           "metadata": {"channel": "web"}})
    assert set(data) == {"id", "workspace_id", "agent_id", "user_id", "title", "metadata",
                         "created_at", "updated_at", "summary"}
    assert len(data["id"]) == 27
    assert data["workspace_id"] == tenant.workspace.id and data["agent_id"] == agent.id
    assert data["title"] == "Support" and data["user_id"] == "u-1"
    assert data["metadata"] == {"channel": "web"}
    assert data["created_at"].endswith("Z") and data["updated_at"].endswith("Z")
    assert Session.objects.get(pk=data["id"]).workspace_id == tenant.workspace.id


def test_create_defaults_and_ignores_unknown_fields(tenant: Tenant, agent: Agent) -> None:
    data = create(tenant, {"agent_id": agent.id, "color": "blue", "id": "chosen-by-client",
                           "workspace_id": "someone-else"})
    assert data["metadata"] == {} and data["title"] == "" and data["user_id"] is None
    assert data["id"] != "chosen-by-client" and data["workspace_id"] == tenant.workspace.id


def test_create_with_agent_of_another_workspace_is_404(tenant: Tenant, other_tenant: Tenant,
                                                       agent: Agent) -> None:
    theirs = agent_create(workspace=other_tenant.workspace, name="Theirs")
    response = tenant.client.post(BASE, {"agent_id": theirs.id}, format="json")
    assert_error(response, 404, "not_found")
    assert_error(tenant.client.post(BASE, {"agent_id": "nope"}, format="json"), 404, "not_found")
    assert not Session.objects.exists()


@pytest.mark.parametrize("metadata", [
    ["a", "list"], "a string", 42, True,
    {"blob": "x" * (16 * 1024)},
    {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}},
])
def test_create_rejects_bad_metadata(tenant: Tenant, agent: Agent, metadata: Any) -> None:
    response = tenant.client.post(BASE, {"agent_id": agent.id, "metadata": metadata},
                                  format="json")
    error = assert_error(response, 400, "validation_error")
    assert "metadata" in error["details"]
    assert not Session.objects.exists()


def test_create_accepts_metadata_at_the_limits(tenant: Tenant, agent: Agent) -> None:
    deep = {"a": {"b": {"c": {"d": {"e": 1}}}}}  # depth 5
    assert create(tenant, {"agent_id": agent.id, "metadata": deep})["metadata"] == deep
    big = {"blob": "x" * (16 * 1024 - 20)}
    assert len(json.dumps(big, separators=(",", ":"))) <= 16 * 1024
    assert create(tenant, {"agent_id": agent.id, "metadata": big})["metadata"] == big


def test_create_rejects_long_title(tenant: Tenant, agent: Agent) -> None:
    response = tenant.client.post(BASE, {"agent_id": agent.id, "title": "t" * 256},
                                  format="json")
    assert "title" in assert_error(response, 400, "validation_error")["details"]
    assert create(tenant, {"agent_id": agent.id, "title": "t" * 255})["title"] == "t" * 255


def test_create_malformed_json_is_400(tenant: Tenant, agent: Agent) -> None:
    response = tenant.client.post(BASE, data='{"agent_id": ', content_type="application/json")
    assert_error(response, 400, "validation_error")
    assert not Session.objects.exists()


def test_create_bodyless_post_is_treated_as_empty_object(tenant: Tenant, agent: Agent) -> None:
    response = tenant.client.post(BASE, content_type="application/json")
    error = assert_error(response, 400, "validation_error")
    assert "agent_id" in error["details"]
    response = tenant.client.generic("POST", BASE, "", content_type="application/json")
    assert "agent_id" in assert_error(response, 400, "validation_error")["details"]


# -- list ---------------------------------------------------------------------------


def test_list_is_newest_first_with_meta(tenant: Tenant, agent: Agent) -> None:
    made = [create(tenant, {"agent_id": agent.id, "title": f"s{i}"})["id"] for i in range(5)]
    body = listed(tenant)
    assert ids(body) == list(reversed(made))
    assert body["meta"] == {"total": 5, "page": 1, "limit": 20, "pages": 1, "total_pages": 1}
    page2 = listed(tenant, "?limit=2&page=2")
    assert ids(page2) == list(reversed(made))[2:4]
    assert page2["meta"] == {"total": 5, "page": 2, "limit": 2, "pages": 3, "total_pages": 3}
    assert listed(tenant, "?limit=2&page=9")["data"] == []
    assert ids(listed(tenant, "?ordering=created_at")) == made
    for bad in ("?page=0", "?limit=101", "?limit=x", "?ordering=secret"):
        assert_error(tenant.client.get(f"{BASE}{bad}"), 400, "validation_error")


def test_list_filters_are_anded(tenant: Tenant, agent: Agent) -> None:
    other_agent = agent_create(workspace=tenant.workspace, name="Second")
    Session.objects.create(workspace=tenant.workspace, agent=other_agent, title="Other agent",
                           metadata={"channel": "web"})
    web_a = create(tenant, {"agent_id": agent.id, "title": "Billing question", "user_id": "ann",
                            "metadata": {"channel": "web", "tier": 2, "lang": "en"}})["id"]
    web_b = create(tenant, {"agent_id": agent.id, "title": "Refund", "user_id": "bob",
                            "metadata": {"channel": "web", "tier": 3, "lang": "de"}})["id"]
    app = create(tenant, {"agent_id": agent.id, "title": "billing again", "user_id": "ann",
                          "metadata": {"channel": "app", "tier": 2, "lang": "en"}})["id"]

    assert len(listed(tenant)["data"]) == 4
    body = listed(tenant, f"?agent_id={agent.id}")
    assert set(ids(body)) == {web_a, web_b, app} and body["meta"]["total"] == 3
    assert set(ids(listed(tenant, "?user_id=ann"))) == {web_a, app}
    assert set(ids(listed(tenant, "?search=BILLING"))) == {web_a, app}
    body = listed(tenant, f"?metadata.channel=web&agent_id={agent.id}")
    assert set(ids(body)) == {web_a, web_b} and body["meta"]["total"] == 2
    assert ids(listed(tenant, "?metadata.channel=web&metadata.lang=en")) == [web_a]
    assert ids(listed(tenant, "?metadata.channel=web&metadata.tier=2")) == [web_a]
    assert set(ids(listed(tenant, "?metadata.tier=2"))) == {web_a, app}
    assert ids(listed(tenant, "?metadata.tier=3&user_id=bob&search=ref")) == [web_b]
    body = listed(tenant, "?metadata.channel=fax")
    assert body["data"] == [] and body["meta"]["total"] == 0
    assert ids(listed(tenant, "?user_id=ann&metadata.channel=app&search=billing")) == [app]


def test_list_and_filters_never_show_another_workspace(tenant: Tenant, other_tenant: Tenant,
                                                       agent: Agent) -> None:
    theirs_agent = demo_agent_ensure(workspace=other_tenant.workspace)
    theirs = Session.objects.create(workspace=other_tenant.workspace, agent=theirs_agent,
                                    title="secret", user_id="ann", metadata={"channel": "web"})
    mine = create(tenant, {"agent_id": agent.id, "title": "mine"})["id"]
    assert ids(listed(tenant)) == [mine]
    for query in (f"?agent_id={theirs_agent.id}", "?user_id=ann", "?search=secret",
                  "?metadata.channel=web"):
        body = listed(tenant, query)
        assert body["data"] == [] and body["meta"]["total"] == 0, query
    assert ids(listed(other_tenant)) == [theirs.id]


# -- get / patch / delete -------------------------------------------------------------


def test_get_and_patch(tenant: Tenant, agent: Agent) -> None:
    session = create(tenant, {"agent_id": agent.id, "title": "Old", "metadata": {"a": 1}})
    path = f"{BASE}/{session['id']}"
    assert tenant.client.get(path).json()["data"] == session
    response = tenant.client.patch(path, {"title": "New", "metadata": {"b": 2}, "agent_id": "x"},
                                   format="json")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["title"] == "New" and data["metadata"] == {"b": 2}
    assert data["agent_id"] == agent.id
    response = tenant.client.patch(path, {"title": "Only title"}, format="json")
    assert response.json()["data"]["metadata"] == {"b": 2}
    for bad in ({"metadata": [1]}, {"title": "x" * 256}, {"metadata": {"x": "y" * 17000}}):
        assert_error(tenant.client.patch(path, bad, format="json"), 400, "validation_error")
    stored = Session.objects.get(pk=session["id"])
    assert stored.title == "Only title" and stored.metadata == {"b": 2}
    assert_error(tenant.client.get(f"{BASE}/does-not-exist"), 404, "not_found")


def test_delete_removes_messages_and_feedback_but_keeps_executions(tenant: Tenant,
                                                                   agent: Agent) -> None:
    session = create(tenant, {"agent_id": agent.id})
    execution = execution_create(workspace=tenant.workspace, agent_id=agent.id,
                                 agent_name=agent.name, agent_version_id=None,
                                 input={"message": "hi"}, session_id=session["id"])
    Message.objects.create(session_id=session["id"], role="user", content="hi",
                           execution=execution)
    Message.objects.create(session_id=session["id"], role="assistant", content="yo",
                           execution=execution)
    Feedback.objects.create(session_id=session["id"], execution=execution, value=1)

    response = tenant.client.delete(f"{BASE}/{session['id']}")
    assert response.status_code == 204 and response.content == b""
    assert not Session.objects.filter(pk=session["id"]).exists()
    assert not Message.objects.filter(session_id=session["id"]).exists()
    assert not Feedback.objects.exists()
    assert Execution.objects.get(pk=execution.id).session_id == session["id"]
    assert_error(tenant.client.get(f"{BASE}/{session['id']}"), 404, "not_found")
    assert_error(tenant.client.delete(f"{BASE}/{session['id']}"), 404, "not_found")
    listed_execution = tenant.client.get(f"/api/v1/executions?session_id={session['id']}")
    assert [e["id"] for e in listed_execution.json()["data"]] == [execution.id]


def test_session_endpoints_are_isolated(tenant: Tenant, other_tenant: Tenant,
                                        agent: Agent) -> None:
    theirs_agent = demo_agent_ensure(workspace=other_tenant.workspace)
    theirs = Session.objects.create(workspace=other_tenant.workspace, agent=theirs_agent,
                                    title="secret")
    message = Message.objects.create(session=theirs, role="user", content="secret")
    path = f"{BASE}/{theirs.id}"
    assert_isolated(tenant.client, "GET", path)
    assert_isolated(tenant.client, "PATCH", path, {"title": "pwned"})
    assert_isolated(tenant.client, "DELETE", path)
    assert_isolated(tenant.client, "GET", f"{path}/messages")
    assert_isolated(tenant.client, "GET", f"{path}/messages?after={message.id}")
    assert_isolated(tenant.client, "POST", f"{path}/feedback", {"execution_id": "x", "value": 1})
    theirs.refresh_from_db()
    assert theirs.title == "secret"
    assert Message.objects.filter(session=theirs).count() == 1
