"""Executions REST (docs/api.md §5, §6 execute): execute, list and filters, get, tree,
isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agents.models import Agent
from agents.services import agent_create, demo_agent_ensure
from chat.models import Session
from executions.models import Execution
from executions.services import execution_create
from tests.helpers import Tenant, assert_error, assert_isolated
from tests.support.live import LiveTenant, ensure_local_model
from tests.support.wait import wait_for


@pytest.fixture
def agent(tenant: Tenant) -> Agent:
    ensure_local_model()
    return demo_agent_ensure(workspace=tenant.workspace)


def execute(tenant: Tenant, agent_id: str, body: Any) -> Any:
    return tenant.client.post(f"/api/v1/agents/{agent_id}/execute", body, format="json")


def test_execute_sync_by_default(tenant: Tenant, agent: Agent, transactional_db: None) -> None:
    response = execute(tenant, agent.id, {"input": {"message": "what is 2+3?"}})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["status"] == "completed" and data["execution_id"] == data["id"]
    assert "5" in data["output"]["content"]
    assert data["input"] == {"message": "what is 2+3?"} and data["error"] is None
    assert data["agent_id"] == agent.id and data["session_id"] is None
    assert data["token_usage"]["total_tokens"] == data["total_tokens"] > 0
    assert isinstance(data["cost"], float | int) and data["children"] == []
    assert len(data["trace_id"]) == 32
    got = tenant.client.get(f"/api/v1/executions/{data['id']}").json()["data"]
    assert got["status"] == "completed" and got["output"] == data["output"]


def test_execute_async_returns_at_once_then_completes(slow_tenant: LiveTenant) -> None:
    # live server: an in-process test client ends its event loop with the request
    url, key = slow_tenant.server.url, slow_tenant.tenant.raw_key
    response = httpx.post(f"{url}/api/v1/agents/{slow_tenant.agent_id}/execute",
                          headers={"X-API-Key": key},
                          json={"input": {"message": " ".join(["word"] * 40)}, "sync": False},
                          timeout=30)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] in ("pending", "running")  # ~1.3 s of reply still to come
    assert data["execution_id"] == data["id"] and data["output"] is None
    done = wait_for(lambda: Execution.objects.filter(pk=data["id"], status="completed").first())
    assert done is not None and done.output is not None
    assert done.output["content"].startswith('Turn 1. You said: "word word')
    got = slow_tenant.sdk.executions.get(data["id"])
    assert got.status == "completed"


def test_execute_errors(tenant: Tenant, other_tenant: Tenant, agent: Agent,
                        transactional_db: None) -> None:
    theirs = demo_agent_ensure(workspace=other_tenant.workspace)
    hi = {"message": "hi"}
    assert_isolated(tenant.client, "POST", f"/api/v1/agents/{theirs.id}/execute",
                    {"input": hi})
    assert_error(execute(tenant, "nope", {"input": hi}), 404, "not_found")
    # `input` is the prompt's variables: an object, never a bare string
    for body in ({"input": 5}, {"input": ["a"]}, {"input": "nope"}, {"input": None},
                 {"input": hi, "sync": "yes"}, {"input": hi, "version_id": 3},
                 {"input": hi, "session_id": 7}):
        assert_error(execute(tenant, agent.id, body), 400, "validation_error")
    no_version = agent_create(workspace=tenant.workspace, name="Empty")
    assert_error(execute(tenant, no_version.id, {"input": hi}), 400, "validation_error")
    assert not Execution.objects.exists()


def test_execute_session_id_names_a_session_of_the_callers_workspace(
    tenant: Tenant, other_tenant: Tenant, agent: Agent, transactional_db: None,
) -> None:
    theirs_agent = demo_agent_ensure(workspace=other_tenant.workspace)
    theirs = Session.objects.create(workspace=other_tenant.workspace, agent=theirs_agent)
    ours = Session.objects.create(workspace=tenant.workspace, agent=agent)
    # another workspace's session, an unknown id, something that cannot be an id: all 404,
    # and nothing is written anywhere
    for session_id in (theirs.id, theirs.id[:-1] + "x", "s" * 100, theirs.id + "x",
                       "../" + ours.id, " "):
        response = execute(tenant, agent.id, {"input": {"message": "pwned"},
                                              "session_id": session_id})
        assert_error(response, 404, "not_found")
    # a NUL character: refused at the edge (400) or naming no session (404), never a 500
    response = execute(tenant, agent.id, {"input": {"message": "hi"}, "session_id": "x\u0000y"})
    assert response.status_code in (400, 404), response.content
    assert response.json()["error"]["code"] in ("validation_error", "not_found")
    assert not Execution.objects.exists()
    assert not theirs.messages.exists() and not ours.messages.exists()
    # its own session: accepted and recorded on the execution
    response = execute(tenant, agent.id, {"input": {"message": "hi"}, "session_id": ours.id})
    assert response.status_code == 200, response.content
    assert response.json()["data"]["session_id"] == ours.id
    # an empty one means none
    response = execute(tenant, agent.id, {"input": {"message": "hi"}, "session_id": ""})
    assert response.status_code == 200, response.content
    assert response.json()["data"]["session_id"] is None


def _make(tenant: Tenant, agent: Agent, **kwargs: Any) -> Execution:
    status = kwargs.pop("status", None)
    execution = execution_create(workspace=tenant.workspace, agent_id=agent.id,
                                 agent_name=agent.name, agent_version_id=None, input={},
                                 **kwargs)
    if status:
        Execution.objects.filter(pk=execution.pk).update(status=status)
    return execution


def _ids(tenant: Tenant, query: str = "") -> list[str]:
    response = tenant.client.get(f"/api/v1/executions{query}")
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["data"]]


def test_list_filters(tenant: Tenant, agent: Agent) -> None:
    second = agent_create(workspace=tenant.workspace, name="Second")
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    a = _make(tenant, agent, session_id=session.id, status="completed")
    b = _make(tenant, agent, status="failed")
    c = _make(tenant, second, session_id=session.id, status="completed")
    assert _ids(tenant) == [c.id, b.id, a.id]
    body = tenant.client.get("/api/v1/executions?limit=2").json()
    assert body["meta"]["total"] == 3 and body["meta"]["pages"] == 2 and len(body["data"]) == 2
    assert _ids(tenant, f"?agent_id={agent.id}") == [b.id, a.id]
    assert _ids(tenant, f"?session_id={session.id}") == [c.id, a.id]
    assert _ids(tenant, "?status=failed") == [b.id]
    assert _ids(tenant, f"?status=completed&agent_id={second.id}") == [c.id]
    assert _ids(tenant, "?status=running") == []
    assert_error(tenant.client.get("/api/v1/executions?status=bogus"), 400, "validation_error")


def test_tree_has_recursive_children(tenant: Tenant, agent: Agent) -> None:
    root = _make(tenant, agent)
    child = _make(tenant, agent)
    grandchild = _make(tenant, agent)
    Execution.objects.filter(pk=child.pk).update(parent=root)
    Execution.objects.filter(pk=grandchild.pk).update(parent=child)
    tree = tenant.client.get(f"/api/v1/executions/{root.id}/tree").json()["data"]
    assert tree["id"] == root.id and [c["id"] for c in tree["children"]] == [child.id]
    assert [c["id"] for c in tree["children"][0]["children"]] == [grandchild.id]
    assert tree["children"][0]["parent_execution_id"] == root.id
    leaf = tenant.client.get(f"/api/v1/executions/{grandchild.id}/tree").json()["data"]
    assert leaf["children"] == []


def test_executions_are_isolated(tenant: Tenant, other_tenant: Tenant, agent: Agent) -> None:
    theirs_agent = demo_agent_ensure(workspace=other_tenant.workspace)
    theirs_session = Session.objects.create(workspace=other_tenant.workspace, agent=theirs_agent)
    theirs = _make(other_tenant, theirs_agent, session_id=theirs_session.id, status="running")
    mine = _make(tenant, agent, status="completed")
    assert _ids(tenant) == [mine.id]
    for query in (f"?agent_id={theirs_agent.id}", f"?session_id={theirs_session.id}",
                  "?status=running"):
        assert _ids(tenant, query) == [], query
    base = f"/api/v1/executions/{theirs.id}"
    assert_isolated(tenant.client, "GET", base)
    assert_isolated(tenant.client, "GET", f"{base}/tree")
    assert_isolated(tenant.client, "POST", f"{base}/cancel")
    assert_isolated(tenant.client, "POST", f"{base}/approve", {})
    assert_isolated(tenant.client, "POST", f"{base}/deny", {})
    assert Execution.objects.get(pk=theirs.pk).status == "running"
    assert tenant.client.get("/api/v1/executions/approval-inbox").json()["data"] == []


def test_cancel_and_decisions_on_finished_executions(tenant: Tenant, agent: Agent) -> None:
    finished = _make(tenant, agent, status="completed")
    base = f"/api/v1/executions/{finished.id}"
    assert_error(tenant.client.post(f"{base}/cancel"), 400, "validation_error")
    assert_error(tenant.client.post(f"{base}/approve", {}, format="json"), 400,
                 "validation_error")
    assert_error(tenant.client.post(f"{base}/deny", {}, format="json"), 400, "validation_error")
    assert Execution.objects.get(pk=finished.pk).status == "completed"
