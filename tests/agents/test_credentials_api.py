from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from agents.crypto import decrypt_value, encrypt_value, mask_secret, mask_value, split_value
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


def test_alternative_create_shape_and_json_value(tenant: Tenant, settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["localhost"]  # the operator allows their Ollama
    alt = _data(tenant.client.post("/api/v1/credentials",
                                   {"name": "Claude", "provider": "anthropic",
                                    "api_key": "sk-ant-abcdefghijklmnop"}, format="json"), 201)
    assert alt["type"] == "anthropic" and alt["category"] == "llm"
    assert alt["masked_content"] == "sk-a...mnop"
    value = json.dumps({"api_key": "ollama-key-123456789", "base_url": "http://localhost:11434/v1"})
    local = _create(tenant, name="Ollama", value=value)
    assert "ollama-key-123456789" not in json.dumps(local)
    assert local["masked_content"] == "olla...6789 @ http://localhost:11434"
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


# --- keys and workspace-chosen URLs (issue #15: 1, 12) ----------------------------------------

OPERATOR_KEY = "sk-operator-SECRET-0123456789"


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_base_url_without_its_own_key_is_rejected(tenant: Tenant, fake_openai: Any,
                                                  kind: str) -> None:
    for value in ({"base_url": fake_openai.base_url},
                  {"api_key": "", "base_url": fake_openai.base_url}):
        error = assert_error(tenant.client.post("/api/v1/credentials", {
            "name": "evil", "provider": kind, "value": json.dumps(value)}, format="json"),
            400, "validation_error")
        assert "api_key" in json.dumps(error)
    created = _create(tenant, type=kind, value="sk-plain-key-0123456789")
    assert_error(tenant.client.patch(f"/api/v1/credentials/{created['id']}", {
        "value": json.dumps({"base_url": fake_openai.base_url})}, format="json"),
        400, "validation_error")
    assert Credential.objects.count() == 1


def test_the_server_key_never_goes_to_a_workspace_url(tenant: Tenant, fake_openai: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the policy allows the fake (127.0.0.1) here: only the key rule stands in the way
    monkeypatch.setenv("OPENAI_API_KEY", OPERATOR_KEY)
    assert_error(tenant.client.post("/api/v1/credentials", {
        "name": "evil", "provider": "openai",
        "value": json.dumps({"base_url": fake_openai.base_url})}, format="json"),
        400, "validation_error")
    # a row stored before this rule existed: refused when used, nothing is sent
    legacy = Credential.objects.create(
        workspace=tenant.workspace, name="legacy", type="openai", is_default=True,
        encrypted_value=encrypt_value(json.dumps({"base_url": fake_openai.base_url})))
    checked = _data(tenant.client.post(f"/api/v1/credentials/{legacy.pk}/check"))
    assert checked["valid"] is False and "api_key" in checked["check_error"]
    assert fake_openai.requests == []
    # with a key of its own, that key (and only it) goes to the credential's URL
    own = _create(tenant, name="own", value=json.dumps(
        {"api_key": "sk-workspace-own-123456", "base_url": fake_openai.base_url}))
    assert _data(tenant.client.post(f"/api/v1/credentials/{own['id']}/check"))["valid"]
    assert [r.headers.get("authorization") for r in fake_openai.requests] == [
        "Bearer sk-workspace-own-123456"]


@pytest.mark.parametrize("base_url", [
    "https://api.example.com/v1?q=",
    "https://api.example.com/v1?",
    "https://api.example.com/v1#x",
    "https://admin:S3cret@api.example.com/v1",
    "https://token@api.example.com/v1",
    "file:///etc/passwd",
])
def test_base_url_with_query_fragment_or_userinfo_is_rejected(tenant: Tenant,
                                                              base_url: str) -> None:
    response = tenant.client.post("/api/v1/credentials", {
        "name": "x", "provider": "openai",
        "value": json.dumps({"api_key": "sk-attacker-1234567", "base_url": base_url})},
        format="json")
    error = assert_error(response, 400, "validation_error")
    assert "S3cret" not in json.dumps(error)
    assert not Credential.objects.exists()


@pytest.mark.parametrize("base_url", [
    "http://127.0.0.1:11434/v1",
    "http://localhost:11434/v1",  # a name resolving to loopback
    "http://[::1]:11434/v1",
    "http://[::ffff:127.0.0.1]:11434/v1",  # IPv4-mapped IPv6
    "http://0.0.0.0:11434/v1",
    "http://10.1.2.3/v1",
    "http://192.168.0.10/v1",
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/latest/meta-data",
])
def test_internal_addresses_are_refused_by_default(tenant: Tenant, base_url: str) -> None:
    for kind in ("openai", "anthropic"):
        response = tenant.client.post("/api/v1/credentials", {
            "name": "x", "provider": kind,
            "value": json.dumps({"api_key": "sk-attacker-1234567", "base_url": base_url})},
            format="json")
        assert_error(response, 400, "validation_error")
    assert not Credential.objects.exists()


def test_the_allowlist_lets_named_hosts_and_networks_through(tenant: Tenant,
                                                             settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["localhost", "10.0.0.0/8"]
    for index, base_url in enumerate(("http://localhost:11434/v1", "http://10.1.2.3:8000/v1")):
        _create(tenant, name=f"ok-{index}", value=json.dumps(
            {"api_key": "sk-local-123456789", "base_url": base_url}))
    for base_url in ("http://192.168.0.10/v1", "http://169.254.169.254/v1"):
        assert_error(tenant.client.post("/api/v1/credentials", {
            "name": "no", "provider": "openai",
            "value": json.dumps({"api_key": "sk-local-123456789", "base_url": base_url})},
            format="json"), 400, "validation_error")
    assert Credential.objects.count() == 2


def test_check_never_echoes_what_the_url_answered(tenant: Tenant, settings: Any) -> None:
    from tests.fakes.static_server import StaticServer

    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    bodies = [
        (500, b"<html>internal-secret-body</html>", "text/html"),
        (404, b'{"internal": "internal-secret-body"}', "application/json"),
        (401, b'{"error": {"message": "internal-secret-body"}}', "application/json"),
    ]
    for status, body, content_type in bodies:
        with StaticServer(status=status, body=body, content_type=content_type) as server:
            created = _create(tenant, name=f"s{status}", value=json.dumps(
                {"api_key": "sk-workspace-own-123456", "base_url": server.base_url}))
            response = tenant.client.post(f"/api/v1/credentials/{created['id']}/check")
            checked = _data(response)
            assert checked["valid"] is False and str(status) in checked["check_error"]
            assert "internal-secret-body" not in response.content.decode()
            assert len(server.requests) == 1


def test_masked_value_hides_userinfo_query_and_path() -> None:
    masked = mask_value(json.dumps({"api_key": "sk-abcdefghijklmnop",
                                    "base_url": "https://admin:S3cret@host.example/v1/tok?t=X#f"}))
    assert masked == "sk-a...mnop @ https://host.example"
    for secret in ("admin", "S3cret", "tok", "t=X", "?", "#"):
        assert secret not in masked


def test_stored_mask_hides_the_url_path(tenant: Tenant, settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["localhost"]
    created = _create(tenant, value=json.dumps({
        "api_key": "sk-local-123456789", "base_url": "http://localhost:8000/secret-path/v1"}))
    assert created["masked_content"] == "sk-l...6789 @ http://localhost:8000"
