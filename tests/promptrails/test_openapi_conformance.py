"""The OpenAPI document describes what the views return (docs/api.md §1).

For representative successful responses of every resource, the JSON body is validated
against the response schema the document gives for that path, method and status. The
documented object schemas are made strict here: a field a view returns that the docs do
not describe fails (``additionalProperties: false`` on every documented object), and so
does a required field a view leaves out. OpenAPI 3.0 ``nullable`` is turned into JSON
Schema's ``null`` type by a small converter; ``$ref``s point into ``$defs``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from django.utils import timezone

from agents.services import demo_agent_ensure
from chat.models import Session
from executions.models import Approval, Execution
from tests.browser.support import Page, make_browser_key
from tests.helpers import Tenant
from tests.support.live import ensure_local_model

API = "/api/v1"


# --- the document, as JSON Schema --------------------------------------------------------


def _strict(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema (2020-12): nullable, refs, closed objects."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {key: _strict(value) for key, value in node.items()
              if key not in ("nullable", "example", "discriminator", "readOnly", "writeOnly")}
    if "$ref" in schema:
        schema["$ref"] = schema["$ref"].replace("#/components/schemas/", "#/$defs/")
    if "properties" in schema and "additionalProperties" not in schema:
        schema["additionalProperties"] = False  # a field the docs do not describe fails
    if node.get("nullable"):
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        if isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
        elif "type" not in schema:
            schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


class Document:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.defs = {name: _strict(schema)
                     for name, schema in raw["components"]["schemas"].items()}
        self.checked: set[tuple[str, str]] = set()

    def check(self, response: Any, method: str, path: str, status: int) -> dict[str, Any]:
        """The response has `status` and a JSON body the document describes for it."""
        assert response.status_code == status, (method, path, response.status_code,
                                                response.content[:500])
        operation = self.raw["paths"][f"{API}{path}"][method.lower()]
        documented = operation["responses"][str(status)]["content"]["application/json"]
        schema = {**_strict(documented["schema"]), "$defs": self.defs}
        body = json.loads(response.content)
        validator = jsonschema.Draft202012Validator(schema)
        problems = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not problems, (
            f"{method} {path} ({operation['operationId']}) does not match its documented "
            f"response:\n" + "\n".join(
                f"  at {'/'.join(map(str, p.absolute_path)) or '(top)'}: {p.message}"
                for p in problems[:10])
        )
        self.checked.add((method.lower(), path))
        return body  # type: ignore[no-any-return]


@pytest.fixture
def doc(tenant: Tenant) -> Document:
    response = tenant.client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return Document(json.loads(response.content))


# --- the converter itself ----------------------------------------------------------------


def test_the_strict_schema_refuses_extra_and_missing_fields() -> None:
    schema = _strict({"type": "object", "required": ["a"],
                      "properties": {"a": {"type": "string", "nullable": True}}})
    jsonschema.validate({"a": None}, schema)
    for wrong in ({"a": "x", "b": 1}, {}, {"a": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


# --- every resource -----------------------------------------------------------------------


def test_agents_versions_prompts_match_the_document(tenant: Tenant, doc: Document) -> None:
    c = tenant.client
    ensure_local_model()
    prompt = doc.check(c.post(f"{API}/prompts", {"name": "P", "system_prompt": "Hi {{ x }}"},
                              format="json"), "POST", "/prompts", 201)["data"]
    pid = prompt["id"]
    doc.check(c.get(f"{API}/prompts"), "GET", "/prompts", 200)
    doc.check(c.get(f"{API}/prompts/{pid}"), "GET", "/prompts/{prompt_id}", 200)
    doc.check(c.patch(f"{API}/prompts/{pid}", {"description": "d"}, format="json"),
              "PATCH", "/prompts/{prompt_id}", 200)
    pv = doc.check(c.post(f"{API}/prompts/{pid}/versions", {"system_prompt": "v2"},
                          format="json"), "POST", "/prompts/{prompt_id}/versions", 201)["data"]
    doc.check(c.get(f"{API}/prompts/{pid}/versions"), "GET", "/prompts/{prompt_id}/versions", 200)
    doc.check(c.get(f"{API}/prompts/{pid}/versions/{pv['id']}"),
              "GET", "/prompts/{prompt_id}/versions/{version_id}", 200)
    doc.check(c.post(f"{API}/prompts/{pid}/versions/{pv['id']}/promote"),
              "POST", "/prompts/{prompt_id}/versions/{version_id}/promote", 200)
    doc.check(c.post(f"{API}/prompts/{pid}/preview", {"input": {"x": 1}}, format="json"),
              "POST", "/prompts/{prompt_id}/preview", 200)

    agent = doc.check(c.post(f"{API}/agents", {"name": "A", "labels": ["x"]}, format="json"),
                      "POST", "/agents", 201)["data"]
    aid = agent["id"]
    tools = doc.check(c.get(f"{API}/mcp-tools"), "GET", "/mcp-tools", 200)["data"]
    models = doc.check(c.get(f"{API}/llm-models"), "GET", "/llm-models", 200)["data"]
    version_body = {
        "version": "1.0.0", "message": "first", "config": {"type": "agent", "prompt_id": pid},
        "model_config": {"model_id": models[0]["model_id"], "temperature": 0.2},
        "run_budget": {"max_tool_calls": 3},
        "tools": [{"mcp_tool_id": tools[0]["id"], "requires_approval": True}] if tools else [],
    }
    av = doc.check(c.post(f"{API}/agents/{aid}/versions", version_body, format="json"),
                   "POST", "/agents/{agent_id}/versions", 201)["data"]
    doc.check(c.get(f"{API}/agents"), "GET", "/agents", 200)
    doc.check(c.get(f"{API}/agents/{aid}"), "GET", "/agents/{agent_id}", 200)
    doc.check(c.patch(f"{API}/agents/{aid}", {"status": "draft"}, format="json"),
              "PATCH", "/agents/{agent_id}", 200)
    doc.check(c.get(f"{API}/agents/{aid}/versions"), "GET", "/agents/{agent_id}/versions", 200)
    doc.check(c.get(f"{API}/agents/{aid}/versions/{av['id']}"),
              "GET", "/agents/{agent_id}/versions/{version_id}", 200)
    doc.check(c.put(f"{API}/agents/{aid}/versions/{av['id']}/promote"),
              "PUT", "/agents/{agent_id}/versions/{version_id}/promote", 200)
    doc.check(c.post(f"{API}/agents/{aid}/preview", {"input": {"x": 2}}, format="json"),
              "POST", "/agents/{agent_id}/preview", 200)


def test_models_credentials_tools_memories_match_the_document(
    tenant: Tenant, doc: Document
) -> None:
    c = tenant.client
    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    models = doc.check(c.get(f"{API}/llm-models"), "GET", "/llm-models", 200)["data"]
    doc.check(c.get(f"{API}/llm-models/{models[0]['id']}"), "GET", "/llm-models/{model_pk}", 200)
    doc.check(c.get(f"{API}/llm-models/available"), "GET", "/llm-models/available", 200)

    cred = doc.check(c.post(f"{API}/credentials", {"name": "k", "type": "openai",
                                                   "value": "sk-test-0123456789"},
                            format="json"), "POST", "/credentials", 201)["data"]
    doc.check(c.post(f"{API}/credentials", {"name": "k2", "provider": "anthropic",
                                            "api_key": "sk-ant-0123456789"}, format="json"),
              "POST", "/credentials", 201)
    doc.check(c.get(f"{API}/credentials"), "GET", "/credentials", 200)
    doc.check(c.get(f"{API}/credentials/{cred['id']}"), "GET", "/credentials/{credential_id}",
              200)
    doc.check(c.patch(f"{API}/credentials/{cred['id']}", {"description": "d"}, format="json"),
              "PATCH", "/credentials/{credential_id}", 200)
    doc.check(c.post(f"{API}/credentials/{cred['id']}/set-default"),
              "POST", "/credentials/{credential_id}/set-default", 200)

    tools = doc.check(c.get(f"{API}/mcp-tools"), "GET", "/mcp-tools", 200)["data"]
    assert tools, "the demo agent brings the built-in tools"
    doc.check(c.get(f"{API}/mcp-tools/{tools[0]['id']}"), "GET", "/mcp-tools/{tool_id}", 200)

    base = f"{API}/agents/{agent.id}/memories"
    memory = doc.check(c.post(base, {"content": "Likes green tea", "subject": "u1",
                                     "memory_type": "preference"}, format="json"),
                       "POST", "/agents/{agent_id}/memories", 201)["data"]
    doc.check(c.get(base), "GET", "/agents/{agent_id}/memories", 200)
    doc.check(c.get(f"{base}/{memory['id']}"), "GET", "/agents/{agent_id}/memories/{memory_id}",
              200)
    doc.check(c.patch(f"{base}/{memory['id']}", {"importance": 0.9}, format="json"),
              "PATCH", "/agents/{agent_id}/memories/{memory_id}", 200)


def test_sessions_messages_executions_traces_approvals_match_the_document(
    transactional_db: None, tenant: Tenant, doc: Document
) -> None:
    # transactional: a send runs in-process on the async view, on its own connection
    c = tenant.client
    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = doc.check(c.post(f"{API}/chat/sessions", {"agent_id": agent.id, "title": "T",
                                                        "metadata": {"k": "v"}}, format="json"),
                        "POST", "/chat/sessions", 201)["data"]
    sid = session["id"]
    doc.check(c.get(f"{API}/chat/sessions"), "GET", "/chat/sessions", 200)
    doc.check(c.get(f"{API}/chat/sessions/{sid}"), "GET", "/chat/sessions/{session_id}", 200)
    doc.check(c.patch(f"{API}/chat/sessions/{sid}", {"title": "U"}, format="json"),
              "PATCH", "/chat/sessions/{session_id}", 200)

    sent = doc.check(c.post(f"{API}/chat/sessions/{sid}/messages", {"content": "hello"},
                            format="json"), "POST", "/chat/sessions/{session_id}/messages",
                     201)["data"]
    doc.check(c.get(f"{API}/chat/sessions/{sid}/messages"),
              "GET", "/chat/sessions/{session_id}/messages", 200)
    doc.check(c.get(f"{API}/chat/sessions/{sid}/messages?after={sent['user_message']['id']}"),
              "GET", "/chat/sessions/{session_id}/messages", 200)
    eid = sent["execution_id"]
    doc.check(c.post(f"{API}/chat/sessions/{sid}/feedback", {"execution_id": eid, "value": 1},
                     format="json"), "POST", "/chat/sessions/{session_id}/feedback", 200)
    doc.check(c.get(f"{API}/chat/sessions/{sid}/feedback"),
              "GET", "/chat/sessions/{session_id}/feedback", 200)
    doc.check(c.post(f"{API}/chat/sessions/{sid}/ws-ticket"),
              "POST", "/chat/sessions/{session_id}/ws-ticket", 201)

    doc.check(c.get(f"{API}/executions"), "GET", "/executions", 200)
    execution = doc.check(c.get(f"{API}/executions/{eid}"), "GET",
                          "/executions/{execution_id}", 200)["data"]
    doc.check(c.get(f"{API}/executions/{eid}/tree"), "GET", "/executions/{execution_id}/tree",
              200)
    ran = doc.check(c.post(f"{API}/agents/{agent.id}/execute", {"input": {"message": "hi"}},
                     format="json"),
                    "POST", "/agents/{agent_id}/execute", 200)["data"]
    assert ran["execution_id"] == ran["id"]

    spans = doc.check(c.get(f"{API}/traces"), "GET", "/traces", 200)["data"]
    assert spans, "a turn writes spans"
    doc.check(c.get(f"{API}/traces/{execution['trace_id']}"), "GET", "/traces/{trace_id}", 200)
    doc.check(c.get(f"{API}/traces/summary"), "GET", "/traces/summary", 200)

    parked = Execution.objects.get(pk=eid)
    Execution.objects.filter(pk=eid).update(status="waiting_approval")
    approval = Approval.objects.create(
        workspace=tenant.workspace, execution=parked, agent_id=agent.id,
        session_id=Session.objects.get(pk=sid).pk, tool_call_id="call_1",
        tool_name="calculator", arguments={"expression": "6*7"},
        expires_at=timezone.now() + timedelta(hours=1))
    doc.check(c.get(f"{API}/approvals"), "GET", "/approvals", 200)
    doc.check(c.get(f"{API}/approvals/{approval.pk}"), "GET", "/approvals/{approval_id}", 200)
    doc.check(c.get(f"{API}/executions/approval-inbox"), "GET", "/executions/approval-inbox",
              200)


def test_browser_chat_matches_the_document(transactional_db: None) -> None:
    bkey = make_browser_key("Conformance browser")
    raw = bkey.tenant.client.get(f"{API}/openapi.json")
    doc = Document(json.loads(raw.content))
    page = Page(bkey.raw, bkey.agent_id)
    doc.check(page.exchange(), "POST", "/browser/chat/token", 200)
    doc.check(page.create_session(), "POST", "/browser/chat/sessions", 201)
    # a turn through the workspace API: the browser API sends only by streaming
    sent = bkey.tenant.client.post(f"{API}/chat/sessions/{page.session_id}/messages",
                                   {"content": "hello"}, format="json")
    assert sent.status_code == 201, sent.content
    listed = doc.check(page.get_messages(), "GET",
                       "/browser/chat/sessions/{session_id}/messages", 200)["data"]
    execution_id = listed[-1]["metadata"]["execution_id"]
    doc.check(page.feedback(execution_id, 1), "POST",
              "/browser/chat/sessions/{session_id}/feedback", 200)
