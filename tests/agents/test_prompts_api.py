from __future__ import annotations

from typing import Any

import pytest

from agents.models import Prompt, PromptVersion
from tests.helpers import Tenant, assert_error, assert_isolated


def _data(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()["data"]


def test_prompt_crud(tenant: Tenant) -> None:
    c = tenant.client
    created = _data(c.post("/api/v1/prompts", {"name": "Greeter", "description": ""},
                           format="json"), 201)
    assert created["workspace_id"] == tenant.workspace.pk
    assert created["current_version"] is None
    assert _data(c.get(f"/api/v1/prompts/{created['id']}"))["name"] == "Greeter"
    body = c.get("/api/v1/prompts").json()
    assert body["meta"]["total"] == 1 and body["data"][0]["id"] == created["id"]
    patched = _data(c.patch(f"/api/v1/prompts/{created['id']}", {"description": "says hi"},
                            format="json"))
    assert patched["description"] == "says hi"
    assert c.delete(f"/api/v1/prompts/{created['id']}").status_code == 204
    assert not Prompt.objects.exists()


def test_prompt_create_with_initial_version(tenant: Tenant) -> None:
    created = _data(tenant.client.post(
        "/api/v1/prompts",
        {"name": "P", "system_prompt": "Be {{ tone }}.", "user_prompt": "{{ message }}"},
        format="json"), 201)
    current = created["current_version"]
    assert current["system_prompt"] == "Be {{ tone }}." and current["is_current"] is True
    assert created["current_version_id"] == current["id"]


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": ["x"]}, {"name": "x", "description": 3},
    {"name": "x", "system_prompt": "{% if %}"}, {"name": "x", "user_prompt": "{{ a"},
    {"name": "x", "input_schema": "s"},
])
def test_prompt_create_rejects_bad_input(tenant: Tenant, body: dict[str, Any]) -> None:
    assert_error(tenant.client.post("/api/v1/prompts", body, format="json"), 400,
                 "validation_error")
    assert not Prompt.objects.exists()


def test_prompt_versions_and_promote(tenant: Tenant) -> None:
    c = tenant.client
    prompt = _data(c.post("/api/v1/prompts", {"name": "P"}, format="json"), 201)
    url = f"/api/v1/prompts/{prompt['id']}/versions"
    v1 = _data(c.post(url, {"version": "1", "user_prompt": "{{ message }}",
                            "system_prompt": "sys", "set_current": False,
                            "input_schema": {"type": "object"}, "config": {"k": 1},
                            "message": "first"}, format="json"), 201)
    assert v1["is_current"] is True  # the first version is current
    assert v1["prompt_id"] == prompt["id"] and v1["config"] == {"k": 1}
    v2 = _data(c.post(url, {"version": "2", "user_prompt": "B"}, format="json"), 201)
    assert v2["is_current"] is False and v2["is_active"] is False
    v3 = _data(c.post(url, {"user_prompt": "C", "set_current": True}, format="json"), 201)
    assert v3["is_current"] is True and v3["version"] == "3.0.0"
    listed = c.get(url).json()
    assert [v["id"] for v in listed["data"]] == [v3["id"], v2["id"], v1["id"]]
    assert listed["meta"]["total"] == 3
    for method in ("put", "post"):
        promoted = _data(getattr(c, method)(f"{url}/{v2['id']}/promote", {}, format="json"))
        assert promoted["is_current"] is True
    assert PromptVersion.objects.filter(is_current=True).count() == 1
    assert _data(c.get(f"/api/v1/prompts/{prompt['id']}"))["current_version_id"] == v2["id"]
    assert_error(c.post(url, {"version": "2"}, format="json"), 400, "validation_error")
    assert_error(c.post(url, {"user_prompt": "{% for %}"}, format="json"), 400,
                 "validation_error")
    assert_error(c.post(url, {"user_prompt": 5}, format="json"), 400, "validation_error")
    assert_error(c.post(url, {"set_current": 1}, format="json"), 400, "validation_error")
    assert_isolated(c, "put", f"{url}/nope/promote", {})


def test_prompt_preview(tenant: Tenant) -> None:
    c = tenant.client
    prompt = _data(c.post("/api/v1/prompts", {"name": "P", "system_prompt": "S {{ a }}",
                                              "user_prompt": "U {{ b|upper }}"},
                          format="json"), 201)
    preview = _data(c.post(f"/api/v1/prompts/{prompt['id']}/preview",
                           {"input": {"a": 1, "b": "x"}}, format="json"))
    assert preview["system_prompt"] == "S 1" and preview["user_prompt"] == "U X"
    assert_error(c.post(f"/api/v1/prompts/{prompt['id']}/preview", {"input": {}},
                        format="json"), 400, "validation_error")


def test_prompts_isolated(tenant: Tenant, other_tenant: Tenant) -> None:
    prompt = _data(tenant.client.post("/api/v1/prompts", {"name": "P", "user_prompt": "x"},
                                      format="json"), 201)
    version_id = prompt["current_version_id"]
    base = f"/api/v1/prompts/{prompt['id']}"
    o = other_tenant.client
    assert_isolated(o, "get", base)
    assert_isolated(o, "patch", base, {"name": "mine"})
    assert_isolated(o, "delete", base)
    assert_isolated(o, "get", f"{base}/versions")
    assert_isolated(o, "post", f"{base}/versions", {"user_prompt": "y"})
    assert_isolated(o, "put", f"{base}/versions/{version_id}/promote", {})
    assert_isolated(o, "post", f"{base}/preview", {"input": {}})
    assert o.get("/api/v1/prompts").json() == {
        "data": [], "meta": {"total": 0, "page": 1, "limit": 20, "pages": 0, "total_pages": 0}}
    assert PromptVersion.objects.count() == 1
