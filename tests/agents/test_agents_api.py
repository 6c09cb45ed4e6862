from __future__ import annotations

from typing import Any

import pytest

from agents.models import Agent, AgentVersion, McpTool, Prompt
from agents.services import builtin_tools_ensure, prompt_create
from tests.agents.support import version_body
from tests.helpers import Tenant, assert_error, assert_isolated


def _data(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()["data"]


# --- agents -------------------------------------------------------------------------------


def test_create_get_list_update_delete_agent(tenant: Tenant) -> None:
    c = tenant.client
    created = _data(c.post("/api/v1/agents", {"name": "Helper", "type": "agent",
                                              "description": "d", "labels": ["x"]},
                           format="json"), 201)
    assert created["workspace_id"] == tenant.workspace.pk
    assert created["labels"] == ["x"] and created["status"] == "active"
    assert created["current_version"] is None and created["current_version_id"] is None
    assert created["created_at"].endswith("Z")

    got = _data(c.get(f"/api/v1/agents/{created['id']}"))
    assert got["name"] == "Helper"

    body = c.get("/api/v1/agents").json()
    assert [a["id"] for a in body["data"]] == [created["id"]]
    assert body["meta"] == {"total": 1, "page": 1, "limit": 20, "pages": 1, "total_pages": 1}

    patched = _data(c.patch(f"/api/v1/agents/{created['id']}", {"name": "Renamed",
                                                                 "status": "archived"},
                            format="json"))
    assert patched["name"] == "Renamed" and patched["status"] == "archived"

    response = c.delete(f"/api/v1/agents/{created['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_error(c.get(f"/api/v1/agents/{created['id']}"), 404, "not_found")


def test_agent_list_filters_and_paging(tenant: Tenant) -> None:
    c = tenant.client
    for name, type_ in [("Alpha bot", "agent"), ("Beta flow", "workflow"), ("alpha two", "agent")]:
        _data(c.post("/api/v1/agents", {"name": name, "type": type_}, format="json"), 201)
    names = lambda r: sorted(a["name"] for a in r.json()["data"])  # noqa: E731
    assert names(c.get("/api/v1/agents?type=workflow")) == ["Beta flow"]
    assert names(c.get("/api/v1/agents?name=ALPHA")) == ["Alpha bot", "alpha two"]
    assert names(c.get("/api/v1/agents?search=two")) == ["alpha two"]
    assert names(c.get("/api/v1/agents?status=archived")) == []
    page = c.get("/api/v1/agents?page=2&limit=2").json()
    assert len(page["data"]) == 1 and page["meta"]["pages"] == 2
    for bad in ("page=0", "page=x", "limit=0", "limit=101", "limit=abc"):
        assert_error(c.get(f"/api/v1/agents?{bad}"), 400, "validation_error")


@pytest.mark.parametrize("body", [
    {},
    {"name": ""},
    {"name": 5},
    {"name": "x", "type": "robot"},
    {"name": "x", "labels": "a,b"},
    {"name": "x", "labels": [1]},
    {"name": "x" * 201},
])
def test_create_agent_rejects_bad_input(tenant: Tenant, body: dict[str, Any]) -> None:
    assert_error(tenant.client.post("/api/v1/agents", body, format="json"), 400,
                 "validation_error")
    assert not Agent.objects.exists()


def test_patch_agent_rejects_bad_input(tenant: Tenant, agent: Agent) -> None:
    bodies: list[dict[str, Any]] = [{"name": None}, {"type": "x"}, {"labels": {}}, {"status": 3}]
    for body in bodies:
        assert_error(tenant.client.patch(f"/api/v1/agents/{agent.pk}", body, format="json"),
                     400, "validation_error")


def test_non_object_body_is_400(tenant: Tenant) -> None:
    response = tenant.client.post("/api/v1/agents", "[1,2]", content_type="application/json")
    assert_error(response, 400, "validation_error")


def test_unknown_agent_is_404(tenant: Tenant) -> None:
    for method, path in [("get", "/api/v1/agents/nope"), ("patch", "/api/v1/agents/nope"),
                         ("delete", "/api/v1/agents/nope"),
                         ("get", "/api/v1/agents/nope/versions"),
                         ("post", "/api/v1/agents/nope/preview")]:
        assert_isolated(tenant.client, method, path, {})


def test_get_embeds_current_version(tenant: Tenant, agent: Agent) -> None:
    got = _data(tenant.client.get(f"/api/v1/agents/{agent.pk}"))
    current = got["current_version"]
    assert got["current_version_id"] == current["id"]
    assert current["is_current"] is True and current["is_active"] is True
    assert current["model_config"]["model_id"] == "echo"
    assert current["tools"][0]["name"] == "calculator"
    listed = tenant.client.get("/api/v1/agents").json()["data"][0]
    assert listed["current_version_id"] == current["id"]


# --- versions -----------------------------------------------------------------------------


def test_version_create_full_body(tenant: Tenant, agent: Agent, prompt: Prompt,
                                  tools: list[McpTool]) -> None:
    body = {
        "version": "2.0.0", "set_current": True, "message": "second",
        "config": {"type": "agent", "prompt_id": prompt.pk},
        "input_schema": {"type": "object"}, "output_schema": None,
        "model_config": {"model_id": "gpt-4o-mini", "fallback_model_id": "echo",
                         "temperature": 0.7, "top_p": None, "top_k": None, "max_tokens": 1024},
        "run_budget": {"max_cost": 1.0, "max_total_tokens": 100000, "max_tool_calls": 20,
                       "max_children": 5, "max_depth": 3},
        "tools": [{"mcp_tool_id": t.pk, "requires_approval": i == 0, "no_retry": False,
                   "sort_order": 10 - i} for i, t in enumerate(tools)],
        "approval_policy": {"ignored": True},
    }
    created = _data(tenant.client.post(f"/api/v1/agents/{agent.pk}/versions", body,
                                       format="json"), 201)
    assert created["version"] == "2.0.0" and created["message"] == "second"
    assert created["is_current"] is True and created["is_active"] is True
    assert created["agent_id"] == agent.pk
    assert created["model_config"]["max_tokens"] == 1024
    assert created["run_budget"]["max_tool_calls"] == 20
    assert created["input_schema"] == {"type": "object"} and created["output_schema"] is None
    assert [t["mcp_tool_id"] for t in created["tools"]] == [t.pk for t in reversed(tools)]
    assert created["tools"][-1]["requires_approval"] is True
    assert AgentVersion.objects.filter(agent=agent, is_current=True).count() == 1

    listed = tenant.client.get(f"/api/v1/agents/{agent.pk}/versions").json()
    assert [v["version"] for v in listed["data"]] == ["2.0.0", "1.0.0"]
    assert listed["meta"]["total"] == 2


def test_version_auto_number_and_not_current_by_default(tenant: Tenant, agent: Agent,
                                                        prompt: Prompt) -> None:
    created = _data(tenant.client.post(f"/api/v1/agents/{agent.pk}/versions",
                                       version_body(prompt.pk), format="json"), 201)
    assert created["version"] == "2.0.0" and created["is_current"] is False
    # model by registry id works too
    from agents.models import LLMModel

    model = LLMModel.objects.get(model_id="gpt-4o")
    created = _data(tenant.client.post(
        f"/api/v1/agents/{agent.pk}/versions",
        {"config": {"type": "agent", "prompt_id": prompt.pk},
         "model_config": {"model_id": model.pk}}, format="json"), 201)
    assert created["version"] == "3.0.0"


def test_first_version_becomes_current(tenant: Tenant, prompt: Prompt) -> None:
    agent = _data(tenant.client.post("/api/v1/agents", {"name": "n", "type": "agent"},
                                     format="json"), 201)
    created = _data(tenant.client.post(f"/api/v1/agents/{agent['id']}/versions",
                                       version_body(prompt.pk), format="json"), 201)
    assert created["is_current"] is True


@pytest.mark.parametrize("patch", [
    {"config": None},
    {"config": "agent"},
    {"config": {"type": "agent"}},
    {"config": {"type": "bogus", "prompt_id": "x"}},
    {"model_config": {"model_id": "no-such-model"}},
    {"model_config": {"model_id": "echo", "fallback_model_id": "nope"}},
    {"model_config": {"model_id": "echo", "temperature": "hot"}},
    {"model_config": {"model_id": "echo", "temperature": 5}},
    {"model_config": {"model_id": "echo", "max_tokens": 1.5}},
    {"model_config": {"model_id": 12}},
    {"model_config": []},
    {"run_budget": {"max_tool_calls": -1}},
    {"run_budget": {"max_cost": "1"}},
    {"tools": {"mcp_tool_id": "x"}},
    {"tools": [{}]},
    {"tools": [None, None]},  # found by the fuzzer: was a 500
    {"tools": [None]},
    {"tools": [{"mcp_tool_id": "x", "requires_approval": "yes"}]},
    {"set_current": "true"},
    {"version": 2},
    {"version": "1.0.0"},
    {"input_schema": []},
])
def test_version_create_rejects_bad_input(tenant: Tenant, agent: Agent, prompt: Prompt,
                                          patch: dict[str, Any]) -> None:
    body = version_body(prompt.pk)
    body.update(patch)
    response = tenant.client.post(f"/api/v1/agents/{agent.pk}/versions", body, format="json")
    assert_error(response, 400, "validation_error")
    assert AgentVersion.objects.filter(agent=agent).count() == 1


def test_version_create_unknown_prompt_or_tool(tenant: Tenant, agent: Agent,
                                               prompt: Prompt) -> None:
    url = f"/api/v1/agents/{agent.pk}/versions"
    assert_error(tenant.client.post(url, version_body("nope"), format="json"), 404, "not_found")
    body = version_body(prompt.pk, tools=[{"mcp_tool_id": "nope"}])
    assert_error(tenant.client.post(url, body, format="json"), 404, "not_found")
    assert AgentVersion.objects.filter(agent=agent).count() == 1


def test_duplicate_tool_rejected(tenant: Tenant, agent: Agent, prompt: Prompt,
                                 tools: list[McpTool]) -> None:
    body = version_body(prompt.pk, tools=[{"mcp_tool_id": tools[0].pk}] * 2)
    assert_error(tenant.client.post(f"/api/v1/agents/{agent.pk}/versions", body, format="json"),
                 400, "validation_error")


@pytest.mark.parametrize("method", ["put", "post"])
def test_promote(tenant: Tenant, agent: Agent, prompt: Prompt, method: str) -> None:
    created = _data(tenant.client.post(f"/api/v1/agents/{agent.pk}/versions",
                                       version_body(prompt.pk), format="json"), 201)
    url = f"/api/v1/agents/{agent.pk}/versions/{created['id']}/promote"
    promoted = _data(getattr(tenant.client, method)(url, {}, format="json"))
    assert promoted["is_current"] is True
    assert list(AgentVersion.objects.filter(agent=agent, is_current=True)
                .values_list("pk", flat=True)) == [created["id"]]
    assert _data(tenant.client.get(f"/api/v1/agents/{agent.pk}"))["current_version_id"] \
        == created["id"]
    # body-less POST is fine too
    response = tenant.client.post(url, content_type="application/json")
    assert response.status_code == 200
    assert_isolated(tenant.client, method,
                    f"/api/v1/agents/{agent.pk}/versions/nope/promote", {})


def test_promote_version_of_another_agent_is_404(tenant: Tenant, agent: Agent,
                                                 prompt: Prompt) -> None:
    other = _data(tenant.client.post("/api/v1/agents", {"name": "o", "type": "agent"},
                                     format="json"), 201)
    version = _data(tenant.client.post(f"/api/v1/agents/{other['id']}/versions",
                                       version_body(prompt.pk), format="json"), 201)
    assert_isolated(tenant.client, "put",
                    f"/api/v1/agents/{agent.pk}/versions/{version['id']}/promote", {})


# --- isolation ----------------------------------------------------------------------------


def test_agents_isolated_between_workspaces(tenant: Tenant, other_tenant: Tenant,
                                            agent: Agent, prompt: Prompt) -> None:
    o = other_tenant.client
    version = AgentVersion.objects.get(agent=agent)
    base = f"/api/v1/agents/{agent.pk}"
    assert_isolated(o, "get", base)
    assert_isolated(o, "patch", base, {"name": "hijacked"})
    assert_isolated(o, "delete", base)
    assert_isolated(o, "get", f"{base}/versions")
    assert_isolated(o, "post", f"{base}/versions", version_body(prompt.pk))
    assert_isolated(o, "put", f"{base}/versions/{version.pk}/promote", {})
    assert_isolated(o, "post", f"{base}/versions/{version.pk}/promote", {})
    assert_isolated(o, "post", f"{base}/preview", {"input": {"message": "hi"}})
    assert o.get("/api/v1/agents").json()["data"] == []
    agent.refresh_from_db()
    assert agent.name == "Support bot"


def test_cannot_attach_other_workspace_prompt_or_tool(tenant: Tenant, other_tenant: Tenant,
                                                      agent: Agent, prompt: Prompt) -> None:
    foreign_prompt = prompt_create(workspace=other_tenant.workspace, name="theirs")
    foreign_tool = builtin_tools_ensure(workspace=other_tenant.workspace)[0]
    url = f"/api/v1/agents/{agent.pk}/versions"
    assert_error(tenant.client.post(url, version_body(foreign_prompt.pk), format="json"),
                 404, "not_found")
    body = version_body(prompt.pk, tools=[{"mcp_tool_id": foreign_tool.pk}])
    assert_error(tenant.client.post(url, body, format="json"), 404, "not_found")
    assert AgentVersion.objects.filter(agent=agent).count() == 1


# --- preview ------------------------------------------------------------------------------


def test_preview_renders_without_model_call(tenant: Tenant, agent: Agent) -> None:
    preview = _data(tenant.client.post(f"/api/v1/agents/{agent.pk}/preview",
                                       {"input": {"message": "Hello", "company": "Initech"}},
                                       format="json"))
    assert preview["system_prompt"] == "You help Initech."
    assert preview["user_prompt"] == "Hello"
    version = AgentVersion.objects.get(agent=agent)
    assert preview["version_id"] == version.pk


def test_preview_with_version_id_and_user_template(tenant: Tenant, agent: Agent) -> None:
    prompt = prompt_create(workspace=tenant.workspace, name="p2", initial_version={
        "system_prompt": "{% if vip %}VIP {% endif %}support", "user_prompt": "Q: {{ message }}"})
    version = _data(tenant.client.post(f"/api/v1/agents/{agent.pk}/versions",
                                       version_body(prompt.pk), format="json"), 201)
    preview = _data(tenant.client.post(
        f"/api/v1/agents/{agent.pk}/preview",
        {"input": {"message": "hi", "vip": True}, "version_id": version["id"]}, format="json"))
    assert preview["system_prompt"] == "VIP support" and preview["user_prompt"] == "Q: hi"
    assert_isolated(tenant.client, "post", f"/api/v1/agents/{agent.pk}/preview",
                    {"input": {}, "version_id": "nope"})
    assert_error(tenant.client.post(f"/api/v1/agents/{agent.pk}/preview", {"input": "x"},
                                    format="json"), 400, "validation_error")


def test_preview_agent_without_version_is_400(tenant: Tenant) -> None:
    agent = _data(tenant.client.post("/api/v1/agents", {"name": "n", "type": "agent"},
                                     format="json"), 201)
    assert_error(tenant.client.post(f"/api/v1/agents/{agent['id']}/preview", {"input": {}},
                                    format="json"), 400, "validation_error")


@pytest.mark.parametrize("template,needle", [
    ("{{ ''.__class__.__mro__ }}", "unsafe"),
    ("{{ cycler.__init__.__globals__ }}", "unsafe"),
    ("{% include '/etc/passwd' %}", "template"),
    ("{% import 'os' as os %}", "template"),
    ("Hi {{ customer_name }}", "customer_name"),
    ("{{ message.__class__ }}", "unsafe"),
    ("{% for i in range(10**9) %}{% endfor %}", "range"),
])
def test_preview_sandbox_refusals(tenant: Tenant, agent: Agent, template: str,
                                  needle: str) -> None:
    from agents.models import PromptVersion

    version = AgentVersion.objects.get(agent=agent)
    PromptVersion.objects.filter(prompt_id=version.config["prompt_id"]).update(
        system_prompt=template)
    response = tenant.client.post(f"/api/v1/agents/{agent.pk}/preview",
                                  {"input": {"message": "hi"}}, format="json")
    error = assert_error(response, 400, "validation_error")
    assert needle in error["message"]
    assert "root:" not in response.content.decode()
