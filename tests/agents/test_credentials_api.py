from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from agents.crypto import decrypt_value, mask_secret, split_value
from agents.models import Credential
from tests.helpers import Tenant, assert_error, assert_isolated

SECRET = "sk-test-0123456789abcdefSECRET"


def _data(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()["data"]


def _create(tenant: Tenant, **body: Any) -> dict[str, Any]:
    payload = {"name": "OpenAI", "type": "openai", "category": "llm", "value": SECRET}
    payload.update(body)
    return _data(tenant.client.post("/api/v1/credentials", payload, format="json"), 201)


def test_create_encrypts_and_masks(tenant: Tenant) -> None:
    created = _create(tenant, description="main")
    assert created["masked_content"] == "sk-t...CRET"
    assert created["is_default"] is True  # first of its type
    assert created["is_valid"] is None and created["last_checked_at"] is None
    text = json.dumps(created)
    assert SECRET not in text and "value" not in created
    row = Credential.objects.filter(pk=created["id"]).values().get()
    assert SECRET not in json.dumps(row, default=str)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM agents_credential WHERE id = %s", [created["id"]])
        raw_row = cursor.fetchone()
    assert SECRET not in repr(raw_row)
    assert decrypt_value(row["encrypted_value"]) == SECRET
    listed = tenant.client.get("/api/v1/credentials").json()
    assert SECRET not in json.dumps(listed) and listed["meta"]["total"] == 1
    got = _data(tenant.client.get(f"/api/v1/credentials/{created['id']}"))
    assert got["masked_content"] == "sk-t...CRET"


def test_alternative_create_shape_and_json_value(tenant: Tenant) -> None:
    alt = _data(tenant.client.post("/api/v1/credentials",
                                   {"name": "Claude", "provider": "anthropic",
                                    "api_key": "sk-ant-abcdefghijklmnop"}, format="json"), 201)
    assert alt["type"] == "anthropic" and alt["category"] == "llm"
    assert alt["masked_content"] == "sk-a...mnop"
    value = json.dumps({"api_key": "ollama-key-123456789", "base_url": "http://localhost:11434/v1"})
    local = _create(tenant, name="Ollama", value=value)
    assert "ollama-key-123456789" not in json.dumps(local)
    assert local["masked_content"].startswith("olla...6789")
    assert local["is_default"] is True  # the first openai credential
    api_key, base_url = split_value(decrypt_value(Credential.objects.get(pk=local["id"])
                                                  .encrypted_value))
    assert (api_key, base_url) == ("ollama-key-123456789", "http://localhost:11434/v1")


def test_short_values_fully_masked() -> None:
    assert mask_secret("abc") == "***"
    assert "..." not in mask_secret("short-key-12")


@pytest.mark.parametrize("body", [
    {},
    {"name": "x"},
    {"name": "x", "type": "openai"},
    {"name": "x", "type": "openai", "value": ""},
    {"name": "x", "type": "openai", "value": 123},
    {"name": "x", "type": "Open AI!", "value": "k"},
    {"name": "x", "type": "openai", "value": "k", "is_default": "yes"},
    {"name": "x", "type": "openai", "value": "{not json"},
    {"name": "x", "type": "openai", "value": '{"api_key": 1}'},
    {"name": "x", "type": "openai", "value": '{"api_key": "k", "base_url": "ftp://x"}'},
    {"name": "x", "provider": "openai"},
])
def test_create_rejects_bad_input(tenant: Tenant, body: dict[str, Any]) -> None:
    assert_error(tenant.client.post("/api/v1/credentials", body, format="json"), 400,
                 "validation_error")
    assert not Credential.objects.exists()


def test_update_and_delete(tenant: Tenant) -> None:
    created = _create(tenant)
    url = f"/api/v1/credentials/{created['id']}"
    updated = _data(tenant.client.patch(url, {"name": "Renamed",
                                              "value": "sk-new-value-abcdefghijkl"},
                                        format="json"))
    assert updated["name"] == "Renamed" and updated["masked_content"] == "sk-n...ijkl"
    assert_error(tenant.client.patch(url, {"value": 5}, format="json"), 400, "validation_error")
    assert_error(tenant.client.patch(url, {"value": "{bad"}, format="json"), 400,
                 "validation_error")
    assert tenant.client.delete(url).status_code == 204
    assert_error(tenant.client.get(url), 404, "not_found")


@pytest.mark.parametrize("suffix", ["set-default", "default"])
def test_one_default_per_type(tenant: Tenant, suffix: str) -> None:
    first = _create(tenant, name="a")
    second = _create(tenant, name="b")
    other_type = _create(tenant, name="c", type="anthropic")
    assert second["is_default"] is False and other_type["is_default"] is True
    promoted = _data(tenant.client.post(f"/api/v1/credentials/{second['id']}/{suffix}"))
    assert promoted["is_default"] is True
    defaults = Credential.objects.filter(is_default=True)
    assert set(defaults.values_list("pk", flat=True)) == {second["id"], other_type["id"]}
    third = _create(tenant, name="d", is_default=True)
    assert set(Credential.objects.filter(is_default=True, type="openai")
               .values_list("pk", flat=True)) == {third["id"]}
    assert first["id"] != third["id"]


def test_check_against_fake_openai(tenant: Tenant, fake_openai: Any) -> None:
    fake_openai.api_key = "sk-good-key-1234567890"
    good = _create(tenant, name="good", value=json.dumps(
        {"api_key": "sk-good-key-1234567890", "base_url": fake_openai.base_url}))
    bad = _create(tenant, name="bad", value=json.dumps(
        {"api_key": "sk-bad-key-1234567890", "base_url": fake_openai.base_url}))
    checked = _data(tenant.client.post(f"/api/v1/credentials/{good['id']}/check"))
    assert checked["is_valid"] is True and checked["last_checked_at"].endswith("Z")
    assert checked["id"] == good["id"]
    checked = _data(tenant.client.post(f"/api/v1/credentials/{bad['id']}/check"))
    assert checked["is_valid"] is False and checked["check_error"]
    assert Credential.objects.get(pk=bad["id"]).is_valid is False
    assert any(r.path == "/v1/models" for r in fake_openai.requests)


def test_check_against_fake_anthropic(tenant: Tenant, fake_anthropic: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)
    created = _create(tenant, type="anthropic", value="sk-ant-whatever-123456")
    checked = _data(tenant.client.post(f"/api/v1/credentials/{created['id']}/check"))
    assert checked["is_valid"] is True


def test_check_unknown_type_is_400(tenant: Tenant) -> None:
    created = _create(tenant, type="slack", category="tool")
    assert_error(tenant.client.post(f"/api/v1/credentials/{created['id']}/check"), 400,
                 "validation_error")


def test_credentials_isolated(tenant: Tenant, other_tenant: Tenant) -> None:
    created = _create(tenant)
    base = f"/api/v1/credentials/{created['id']}"
    o = other_tenant.client
    assert_isolated(o, "get", base)
    assert_isolated(o, "patch", base, {"name": "x"})
    assert_isolated(o, "delete", base)
    assert_isolated(o, "post", f"{base}/set-default")
    assert_isolated(o, "post", f"{base}/default")
    assert_isolated(o, "post", f"{base}/check")
    assert o.get("/api/v1/credentials").json()["data"] == []
    assert Credential.objects.get(pk=created["id"]).name == "OpenAI"
