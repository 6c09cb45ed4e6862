"""REST API of agent memories: /api/v1/agents/{id}/memories[/{memory_id}]."""

from __future__ import annotations

from typing import Any

import pytest

from agents.memories import memory_create
from agents.models import Agent, Memory
from agents.services import agent_create
from tests.helpers import Tenant, assert_error, assert_isolated


def _data(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()["data"]


def _path(agent: Agent, memory_id: str | None = None) -> str:
    base = f"/api/v1/agents/{agent.pk}/memories"
    return f"{base}/{memory_id}" if memory_id else base


def test_create_get_list_update_delete(tenant: Tenant, agent: Agent) -> None:
    c = tenant.client
    created = _data(c.post(_path(agent), {"content": "Likes tea", "subject": "u1",
                                          "memory_type": "preference", "importance": 0.8},
                           format="json"), 201)
    assert set(created) == {"id", "agent_id", "workspace_id", "subject", "content",
                            "memory_type", "importance", "access_count", "session_id",
                            "created_at", "updated_at"}
    assert created["agent_id"] == agent.pk and created["workspace_id"] == tenant.workspace.pk
    assert created["memory_type"] == "preference" and created["importance"] == 0.8
    assert created["access_count"] == 0 and created["session_id"] is None
    assert created["created_at"].endswith("Z") and len(created["id"]) == 27

    got = _data(c.get(_path(agent, created["id"])))
    assert got == created

    body = c.get(_path(agent)).json()
    assert [m["id"] for m in body["data"]] == [created["id"]]
    assert body["meta"] == {"total": 1, "page": 1, "limit": 20, "pages": 1, "total_pages": 1}

    patched = _data(c.patch(_path(agent, created["id"]), {"content": "Likes green tea",
                                                          "importance": 1},
                            format="json"))
    assert patched["content"] == "Likes green tea" and patched["importance"] == 1.0
    assert patched["memory_type"] == "preference" and patched["subject"] == "u1"

    deleted = c.delete(_path(agent, created["id"]))
    assert deleted.status_code == 204 and deleted.content == b""
    assert not Memory.objects.filter(pk=created["id"]).exists()
    assert_error(c.get(_path(agent, created["id"])), 404, "not_found")


def test_defaults(tenant: Tenant, agent: Agent) -> None:
    created = _data(tenant.client.post(_path(agent), {"content": "  Speaks French "},
                                       format="json"), 201)
    assert created["content"] == "Speaks French"
    assert created["memory_type"] == "fact" and created["importance"] == 0.5
    assert created["subject"] == ""


def test_filters_and_paging(tenant: Tenant, agent: Agent) -> None:
    ws = tenant.workspace
    for i in range(5):
        memory_create(workspace=ws, agent=agent,
                      data={"content": f"note {i} about coffee", "subject": "u1"})
    memory_create(workspace=ws, agent=agent,
                  data={"content": "Prefers email", "subject": "u2",
                        "memory_type": "preference"})
    memory_create(workspace=ws, agent=agent, data={"content": "General rule"})
    c = tenant.client

    def listed(query: str) -> list[str]:
        return [m["content"] for m in c.get(_path(agent) + query).json()["data"]]

    assert len(listed("?subject=u1")) == 5
    assert listed("?subject=u2") == ["Prefers email"]
    assert listed("?subject=") == ["General rule"]
    assert listed("?memory_type=preference") == ["Prefers email"]
    assert listed("?search=COFFEE&subject=u1&memory_type=fact")[0] == "note 4 about coffee"
    assert listed("?search=nothing-like-this") == []

    body = c.get(_path(agent) + "?limit=2&page=2").json()
    assert len(body["data"]) == 2
    assert body["meta"] == {"total": 7, "page": 2, "limit": 2, "pages": 4, "total_pages": 4}
    assert c.get(_path(agent) + "?limit=2&page=9").json()["data"] == []


@pytest.mark.parametrize("query", ["?page=0", "?limit=101", "?limit=x",
                                   "?memory_type=opinion"])
def test_bad_list_query_is_400(tenant: Tenant, agent: Agent, query: str) -> None:
    assert_error(tenant.client.get(_path(agent) + query), 400, "validation_error")


@pytest.mark.parametrize("body", [
    {}, {"content": ""}, {"content": "   "}, {"content": 3}, {"content": "x" * 100_000},
    {"content": "ok", "memory_type": "opinion"}, {"content": "ok", "importance": 2},
    {"content": "ok", "importance": True}, {"content": "ok", "importance": "high"},
    {"content": "ok", "subject": 5}, {"content": "ok", "subject": "s" * 256},
    {"content": "a\x00b"}, {"content": "ok", "subject": "u\x00"},
])
def test_bad_create_is_400(tenant: Tenant, agent: Agent, body: dict[str, Any]) -> None:
    error = assert_error(tenant.client.post(_path(agent), body, format="json"), 400,
                         "validation_error")
    assert error["details"]
    assert not Memory.objects.exists()


def test_bad_body_shapes_are_400(tenant: Tenant, agent: Agent) -> None:
    c = tenant.client
    assert_error(c.post(_path(agent), ["content"], format="json"), 400, "validation_error")
    assert_error(c.post(_path(agent), "{not json", content_type="application/json"), 400,
                 "validation_error")
    memory = memory_create(workspace=tenant.workspace, agent=agent, data={"content": "kept"})
    for body in ({"content": ""}, {"importance": -1}, {"content": "a\x00"}):
        assert_error(c.patch(_path(agent, memory.pk), body, format="json"), 400,
                     "validation_error")
    memory.refresh_from_db()
    assert memory.content == "kept" and memory.importance == 0.5


def test_nul_in_path_or_query_is_not_a_500(tenant: Tenant, agent: Agent) -> None:
    c = tenant.client
    assert c.get(_path(agent) + "?search=a%00b").status_code in (200, 400)
    assert c.get(_path(agent) + "?subject=a%00b").status_code in (200, 400)
    assert c.get(_path(agent, "a%00b")).status_code in (400, 404)


def test_isolated_between_workspaces(tenant: Tenant, other_tenant: Tenant,
                                     agent: Agent) -> None:
    mine = memory_create(workspace=tenant.workspace, agent=agent, data={"content": "secret"})
    theirs_agent = agent_create(workspace=other_tenant.workspace, name="Theirs")
    theirs = memory_create(workspace=other_tenant.workspace, agent=theirs_agent,
                           data={"content": "theirs"})
    o = other_tenant.client
    # another workspace's agent, and a memory reached through one's own agent: both 404
    for method, body in (("get", None), ("post", {"content": "x"})):
        assert_isolated(o, method, _path(agent), body)
    for method in ("get", "patch", "delete"):
        assert_isolated(o, method, _path(agent, mine.pk), {"content": "x"})
        assert_isolated(o, method, _path(theirs_agent, mine.pk), {"content": "x"})
    mine.refresh_from_db()
    assert mine.content == "secret"
    # a memory of another agent of the same workspace is not reachable through this agent
    second = agent_create(workspace=tenant.workspace, name="Second")
    assert_isolated(tenant.client, "get", _path(second, mine.pk))
    assert tenant.client.get(_path(second)).json()["data"] == []
    assert [m["id"] for m in o.get(_path(theirs_agent)).json()["data"]] == [theirs.pk]


def test_unknown_ids_are_404(tenant: Tenant, agent: Agent) -> None:
    c = tenant.client
    assert_error(c.get("/api/v1/agents/nope/memories"), 404, "not_found")
    assert_error(c.get(_path(agent, "nope")), 404, "not_found")
    assert_error(c.put(_path(agent, "nope"), {}, format="json"), 405, "method_not_allowed")


def test_requires_a_key(agent: Agent) -> None:
    from rest_framework.test import APIClient

    assert_error(APIClient().get(_path(agent)), 401, "unauthorized")
