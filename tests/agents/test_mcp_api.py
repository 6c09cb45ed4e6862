"""/api/v1/mcp-tools for MCP servers (docs/api.md §7, §10): create, read, update, delete,
discover, call; headers masked and secrets never returned; the outbound policy; workspace
isolation. Against a real MCP server (tests/fakes/mcp_server.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agents.models import McpTool
from agents.services import credential_create
from tests.fakes import mcp_server
from tests.fakes.mcp_server import RunningServer
from tests.helpers import Tenant, assert_error, assert_isolated

BASE = "/api/v1/mcp-tools"
SECRET = "tok-9f8e7d6c5b4a3210"
LITERAL = "literal-secret-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    running = mcp_server.start("http")
    yield running
    running.stop()


def _create(tenant: Tenant, server: RunningServer, **extra: Any) -> dict[str, Any]:
    body = {"name": "tools", "type": "remote_mcp",
            "config": {"url": server.url, "transport_type": "http"}, **extra}
    response = tenant.client.post(BASE, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["data"]  # type: ignore[no-any-return]


@pytest.mark.usefixtures("allow_loopback")
def test_create_discover_call(tenant: Tenant, server: RunningServer) -> None:
    tool = _create(tenant, server)
    assert tool["type"] == "remote_mcp" and tool["status"] == "active"
    assert tool["config"] == {"url": server.url, "transport_type": "http", "headers": {}}

    response = tenant.client.post(f"{BASE}/{tool['id']}/discover")
    assert response.status_code == 200, response.json()
    found = response.json()["data"]
    assert len(found["trace_id"]) == 32
    add = next(t for t in found["tools"] if t["name"] == "add")
    assert add["description"] == "Add two integers."
    assert add["inputSchema"]["properties"].keys() == {"a", "b"}
    stored = tenant.client.get(f"{BASE}/{tool['id']}").json()["data"]
    assert [t["name"] for t in stored["discovered_tools"]] == [t["name"] for t in found["tools"]]
    assert stored["discovered_at"] is not None and stored["last_error"] is None

    response = tenant.client.post(f"{BASE}/{tool['id']}/call",
                                  {"tool_name": "add", "arguments": {"a": 20, "b": 22}},
                                  format="json")
    assert response.status_code == 200, response.json()
    result = response.json()["data"]
    assert result["is_error"] is False and len(result["trace_id"]) == 32
    assert result["content"][0] == {"type": "text", "text": "42"}

    response = tenant.client.post(f"{BASE}/{tool['id']}/call",
                                  {"tool_name": "fail", "arguments": {"message": "nope"}},
                                  format="json")
    assert response.json()["data"]["is_error"] is True
    assert response.json()["data"]["content"][0]["text"].endswith("nope")


@pytest.mark.usefixtures("allow_loopback")
def test_secrets_are_masked_filled_late_and_redacted(tenant: Tenant,
                                                     server: RunningServer) -> None:
    credential = credential_create(workspace=tenant.workspace, name="mcp token",
                                   type="mcp", category="mcp",
                                   value=json.dumps({"token": SECRET}))
    tool = _create(tenant, server, credential_id=credential.pk,
                   config={"url": server.url, "headers": {"Authorization": "Bearer {{token}}",
                                                          "X-Static": LITERAL}})
    assert tool["credential_id"] == credential.pk
    assert tool["config"]["headers"] == {"Authorization": "Bearer {{token}}",
                                         "X-Static": "lite...6789"}

    # a masked value sent back keeps the stored one
    response = tenant.client.patch(f"{BASE}/{tool['id']}", {"config": tool["config"]},
                                   format="json")
    assert response.status_code == 200, response.json()
    row = McpTool.objects.get(pk=tool["id"])
    assert LITERAL not in json.dumps(row.config) and SECRET not in row.encrypted_headers

    response = tenant.client.post(f"{BASE}/{tool['id']}/call", {"tool_name": "whoami"},
                                  format="json")
    assert mcp_server.STATE["auth"][-1] == f"Bearer {SECRET}"
    text = response.json()["data"]["content"][0]["text"]
    assert SECRET not in response.content.decode() and "[redacted]" in text
    for path in (BASE, f"{BASE}/{tool['id']}"):
        body = tenant.client.get(path).content.decode()
        assert SECRET not in body and LITERAL not in body


@pytest.mark.usefixtures("allow_loopback")
def test_placeholders_need_a_credential_with_the_field(tenant: Tenant,
                                                      server: RunningServer) -> None:
    config = {"url": server.url, "headers": {"Authorization": "Bearer {{token}}"}}
    response = tenant.client.post(BASE, {"name": "x", "type": "remote_mcp", "config": config},
                                  format="json")
    assert "credential_id" in assert_error(response, 400, "validation_error")["details"]
    plain = credential_create(workspace=tenant.workspace, name="plain", type="mcp",
                              category="mcp", value="just-a-key-value")
    response = tenant.client.post(BASE, {"name": "x", "type": "remote_mcp", "config": config,
                                         "credential_id": plain.pk}, format="json")
    assert_error(response, 400, "validation_error")
    config["headers"] = {"Authorization": "Bearer {{value}}"}
    response = tenant.client.post(BASE, {"name": "x", "type": "remote_mcp", "config": config,
                                         "credential_id": plain.pk}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("config", [
    {"url": "ftp://example.com/mcp"},
    {"url": "http://169.254.169.254/mcp"},
    {"url": "https://example.com/mcp?token=1"},
    {"url": "https://example.com/mcp", "transport_type": "stdio"},
    {"url": "https://example.com/mcp", "headers": {"Bad Name": "x"}},
    {"url": "https://example.com/mcp", "headers": {"X-A": "a\r\nInjected: 1"}},
    {"url": "https://example.com/mcp", "headers": {"Host": "evil"}},
    {"url": "https://example.com/mcp", "timeout_seconds": 0},
    {"url": "https://example.com/mcp", "allowed_tools": "add"},
    {},
])
def test_bad_configs_are_400(tenant: Tenant, config: dict[str, Any]) -> None:
    response = tenant.client.post(BASE, {"name": "x", "type": "remote_mcp", "config": config},
                                  format="json")
    assert_error(response, 400, "validation_error")
    assert not McpTool.objects.filter(name="x").exists()


def test_loopback_is_refused_unless_the_operator_allows_it(tenant: Tenant,
                                                          server: RunningServer) -> None:
    response = tenant.client.post(BASE, {"name": "x", "type": "remote_mcp",
                                         "config": {"url": server.url}}, format="json")
    assert "config.url" in assert_error(response, 400, "validation_error")["details"]


def test_only_remote_mcp_tools_are_created(tenant: Tenant) -> None:
    response = tenant.client.post(BASE, {"name": "x", "type": "builtin"}, format="json")
    assert_error(response, 400, "validation_error")


@pytest.mark.usefixtures("allow_loopback")
def test_an_unreachable_server_is_502_and_its_status_error(tenant: Tenant,
                                                          server: RunningServer) -> None:
    tool = _create(tenant, server, config={
        "url": f"http://127.0.0.1:{mcp_server.free_port()}/mcp", "timeout_seconds": 5})
    response = tenant.client.post(f"{BASE}/{tool['id']}/discover")
    assert_error(response, 502, "upstream_error")
    stored = tenant.client.get(f"{BASE}/{tool['id']}").json()["data"]
    assert stored["status"] == "error" and "cannot reach" in stored["last_error"]
    response = tenant.client.post(f"{BASE}/{tool['id']}/call", {"tool_name": "add"},
                                  format="json")
    assert_error(response, 502, "upstream_error")


@pytest.mark.usefixtures("allow_loopback")
def test_update_and_delete(tenant: Tenant, server: RunningServer) -> None:
    tool = _create(tenant, server, config={"url": server.url, "allowed_tools": ["add"]})
    response = tenant.client.patch(f"{BASE}/{tool['id']}", {"name": "renamed",
                                                            "status": "inactive"},
                                   format="json")
    data = response.json()["data"]
    assert (data["name"], data["is_active"]) == ("renamed", False)
    response = tenant.client.post(f"{BASE}/{tool['id']}/call", {"tool_name": "whoami"},
                                  format="json")
    assert "tool_name" in assert_error(response, 400, "validation_error")["details"]
    assert tenant.client.delete(f"{BASE}/{tool['id']}").status_code == 204
    assert_error(tenant.client.get(f"{BASE}/{tool['id']}"), 404, "not_found")


@pytest.mark.usefixtures("allow_loopback")
def test_another_workspaces_tool_is_404_everywhere(tenant: Tenant, other_tenant: Tenant,
                                                   server: RunningServer) -> None:
    tool = _create(tenant, server)
    path = f"{BASE}/{tool['id']}"
    for method, url, body in (("GET", path, None), ("PATCH", path, {"name": "x"}),
                              ("PUT", path, {"name": "x"}), ("DELETE", path, None),
                              ("POST", f"{path}/discover", None),
                              ("POST", f"{path}/call", {"tool_name": "add"})):
        assert_isolated(other_tenant.client, method, url, body)
    assert McpTool.objects.filter(pk=tool["id"], name="tools").exists()
    other = credential_create(workspace=other_tenant.workspace, name="theirs", type="mcp",
                              category="mcp", value="their-secret-value")
    response = tenant.client.patch(path, {"credential_id": other.pk}, format="json")
    assert_error(response, 404, "not_found")
    listed = other_tenant.client.get(BASE).json()["data"]
    assert tool["id"] not in [t["id"] for t in listed]
