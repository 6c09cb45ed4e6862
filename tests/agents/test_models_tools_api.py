from __future__ import annotations

import pytest

from agents.models import LLMModel
from agents.services import builtin_tools_ensure, credential_create
from tests.helpers import Tenant, assert_error, assert_isolated


def test_registry_is_seeded_and_paginated(tenant: Tenant) -> None:
    body = tenant.client.get("/api/v1/llm-models?limit=100").json()
    ids = {(m["provider"], m["model_id"]) for m in body["data"]}
    assert {("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("local", "echo")} <= ids
    assert any(p == "anthropic" and m.startswith("claude-sonnet-4") for p, m in ids)
    assert body["meta"]["total"] == len(body["data"])
    mini = next(m for m in body["data"] if m["model_id"] == "gpt-4o-mini")
    assert mini["input_price"] == 0.15 and mini["output_price"] == 0.6
    assert mini["cached_input_price"] == 0.075 and mini["max_tokens"] == 128_000
    echo = next(m for m in body["data"] if m["model_id"] == "echo")
    assert echo["input_price"] == 0 and echo["max_tokens"] == 32768
    sonnet = next(m for m in body["data"] if m["model_id"].startswith("claude-sonnet-4"))
    assert sonnet["cached_input_price"] == 0.3


def test_registry_filters(tenant: Tenant) -> None:
    c = tenant.client
    local = c.get("/api/v1/llm-models?provider=local").json()["data"]
    assert [m["model_id"] for m in local] == ["echo"]
    LLMModel.objects.filter(model_id="gpt-4o").update(is_active=False)
    inactive = c.get("/api/v1/llm-models?is_active=false").json()["data"]
    assert [m["model_id"] for m in inactive] == ["gpt-4o"]
    active = c.get("/api/v1/llm-models?is_active=true&limit=100").json()["data"]
    assert "gpt-4o" not in {m["model_id"] for m in active}
    assert_error(c.get("/api/v1/llm-models?is_active=maybe"), 400, "validation_error")
    assert_error(c.get("/api/v1/llm-models?limit=1000"), 400, "validation_error")
    model = LLMModel.objects.get(model_id="echo")
    assert c.get(f"/api/v1/llm-models/{model.pk}").json()["data"]["model_id"] == "echo"
    assert_error(c.get("/api/v1/llm-models/nope"), 404, "not_found")


def _providers(tenant: Tenant) -> list[str]:
    body = tenant.client.get("/api/v1/llm-models/available").json()
    return [g["provider"] for g in body["data"]["groups"]]


def test_available_depends_on_workspace(tenant: Tenant, other_tenant: Tenant,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert _providers(tenant) == ["local"]
    credential_create(workspace=tenant.workspace, name="oa", type="openai", value="sk-" + "a" * 30)
    assert _providers(tenant) == ["local", "openai"]
    assert _providers(other_tenant) == ["local"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    assert _providers(other_tenant) == ["anthropic", "local"]
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    LLMModel.objects.create(provider="openai", model_id="llama3", display_name="Llama 3",
                            base_url="http://localhost:11434/v1")
    body = other_tenant.client.get("/api/v1/llm-models/available").json()["data"]["groups"]
    openai = next(g for g in body if g["provider"] == "openai")
    assert [m["model_id"] for m in openai["models"]] == ["llama3"]
    assert set(openai["models"][0]) >= {"id", "model_id", "display_name", "max_tokens",
                                        "supports_tools", "input_price", "output_price"}


def test_tools_list_and_get(tenant: Tenant, other_tenant: Tenant) -> None:
    tools = builtin_tools_ensure(workspace=tenant.workspace)
    body = tenant.client.get("/api/v1/mcp-tools").json()
    names = {t["name"] for t in body["data"]}
    assert {"calculator", "current_time"} <= names
    assert body["meta"]["total"] == len(tools)
    one = tenant.client.get(f"/api/v1/mcp-tools/{tools[0].pk}").json()["data"]
    assert set(one) >= {"id", "workspace_id", "name", "type", "config", "schema", "is_active",
                        "status", "created_at", "updated_at"}
    assert one["type"] == "builtin" and one["schema"]["type"] == "object"
    assert_isolated(other_tenant.client, "get", f"/api/v1/mcp-tools/{tools[0].pk}")
    assert other_tenant.client.get("/api/v1/mcp-tools").json()["data"] == []
    assert_error(tenant.client.get("/api/v1/mcp-tools?page=-1"), 400, "validation_error")
