"""Inputs that used to be 500s (most only on PostgreSQL): every one is a 4xx in the error
envelope, and nothing is written.

A table of bad values — text PostgreSQL cannot store (NUL, unpaired surrogates, also as
JSON escapes), NaN/Infinity/1e999, JSON nested past the bound, numbers past a column's
range, dates past year 9999 in UTC, template bombs — sent to every endpoint that takes
them: in bodies, query parameters, path ids and headers. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

import pytest
from django.apps import apps
from rest_framework.test import APIClient

from agents.models import McpTool
from agents.services import (
    agent_create,
    agent_version_create,
    credential_create,
    demo_agent_ensure,
    prompt_create,
)
from chat.models import Message, Session
from executions.services import execution_create
from tests.helpers import Tenant, assert_error
from tests.support.live import ensure_local_model

pytestmark = pytest.mark.django_db
# the async routes read through other threads' connections: their data must be committed
COMMITTED = pytest.mark.django_db(transaction=True)
ASYNC_ROUTES = ("/messages", "/execute", "/stream")


def cases(rows: Sequence[tuple[str, ...]]) -> list[Any]:
    """Table rows as parameters; a row on an async route runs on committed data."""
    return [pytest.param(*row, id=" ".join(row)[:90],
                         marks=[COMMITTED] if any(r in row[1] for r in ASYNC_ROUTES) else [])
            for row in rows]

API = "/api/v1"
ERROR_CODES = {400: "validation_error", 401: "unauthorized", 404: "not_found"}
# every model a request of this API can write (API keys excluded: last_used_at moves)
WRITTEN = ("chat.Session", "chat.Message", "chat.Feedback", "chat.IdempotencyKey",
           "agents.Agent", "agents.AgentVersion", "agents.AgentVersionTool", "agents.Prompt",
           "agents.PromptVersion", "agents.Credential", "agents.McpTool", "agents.LLMModel",
           "executions.Execution", "executions.ExecutionEvent", "executions.Span")


@dataclass
class World:
    tenant: Tenant
    ids: dict[str, str]

    def path(self, template: str, **extra: str) -> str:
        return API + Template(template).substitute(self.ids, **extra)


@pytest.fixture
def world(tenant: Tenant) -> World:
    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    version = agent.versions.get(is_current=True)
    prompt_id = version.config["prompt_id"]
    prompt_version = (apps.get_model("agents", "PromptVersion").objects
                      .get(prompt_id=prompt_id, is_current=True))
    session = Session.objects.create(workspace=tenant.workspace, agent=agent, title="kept")
    execution = execution_create(workspace=tenant.workspace, agent_id=agent.pk,
                                 agent_name=agent.name, agent_version_id=version.pk,
                                 input={"message": "m"}, session_id=session.id)
    message = Message.objects.create(session=session, role="user", content="m",
                                     execution=execution)
    credential = credential_create(workspace=tenant.workspace, name="key", type="anthropic",
                                   value="sk-ant-test")
    tool = McpTool.objects.filter(workspace=tenant.workspace).first()
    assert tool is not None
    return World(tenant=tenant, ids={
        "agent": agent.pk, "version": version.pk, "prompt": prompt_id,
        "prompt_version": prompt_version.pk, "session": session.id,
        "execution": execution.id, "message": message.id, "credential": credential.pk,
        "tool": tool.pk, "trace": execution.trace_id, "model": "1",
    })


def snapshot() -> dict[str, list[dict[str, Any]]]:
    return {label: [json.loads(json.dumps(row, default=str)) for row in
                    apps.get_model(label).objects.order_by("pk").values()]
            for label in WRITTEN}


def assert_refused(response: Any, *statuses: int, case: str = "") -> dict[str, Any]:
    """A 4xx (one of `statuses`) in the envelope; a validation error names its fields."""
    assert response.status_code in statuses, (case, response.status_code,
                                              response.content[:400])
    error = assert_error(response, response.status_code, ERROR_CODES[response.status_code])
    if response.status_code == 400:
        assert error["details"], error
        assert all(isinstance(v, list) and all(isinstance(m, str) for m in v)
                   for v in error["details"].values()), error
    return error


@pytest.fixture
def unchanged() -> Iterator[None]:
    before = snapshot()
    yield
    assert snapshot() == before


def send_raw(client: APIClient, method: str, path: str, text: str, **headers: str) -> Any:
    """`text` as the JSON body byte for byte (escapes like \\u0000 stay escapes)."""
    body: Any = text.encode("utf-8", "surrogatepass")
    extra: dict[str, Any] = headers
    return client.generic(method, path, body, content_type="application/json", **extra)


# --- bodies --------------------------------------------------------------------------------

BAD_TEXTS = {"nul": r'"a\u0000b"', "high-surrogate": r'"\ud800"',
             "low-surrogate": r'"tail \udfff"', "reversed-pair": r'"\udc00\ud800"'}

# (method, path, body); $bad is a bad JSON value, the other $names the world's ids
BODIES = [
    ("POST", "/chat/sessions", '{"agent_id": "$agent", "title": $bad}'),
    ("POST", "/chat/sessions", '{"agent_id": "$agent", "metadata": {"k": $bad}}'),
    ("POST", "/chat/sessions", '{"agent_id": "$agent", "metadata": {"k": [1, {"d": $bad}]}}'),
    ("POST", "/chat/sessions", '{"agent_id": "$agent", "metadata": {$bad: 1}}'),
    ("POST", "/chat/sessions", '{"agent_id": "$agent", "user_id": $bad}'),
    ("POST", "/chat/sessions", '{"agent_id": $bad}'),
    ("PATCH", "/chat/sessions/$session", '{"title": $bad}'),
    ("PATCH", "/chat/sessions/$session", '{"metadata": {"k": $bad}}'),
    ("PATCH", "/chat/sessions/$session", '{"metadata": {$bad: "v"}}'),
    ("POST", "/chat/sessions/$session/messages", '{"content": $bad}'),
    ("POST", "/chat/sessions/$session/messages/stream", '{"content": $bad}'),
    ("POST", "/chat/sessions/$session/feedback", '{"execution_id": $bad, "value": 1}'),
    ("POST", "/agents", '{"name": $bad}'),
    ("POST", "/agents", '{"name": "n", "description": $bad}'),
    ("POST", "/agents", '{"name": "n", "labels": [$bad]}'),
    ("PATCH", "/agents/$agent", '{"name": $bad}'),
    ("POST", "/agents/$agent/versions",
     '{"config": {"type": "agent", "prompt_id": $bad}}'),
    ("POST", "/agents/$agent/versions",
     '{"config": {"type": "agent", "prompt_id": "$prompt"}, "input_schema": {$bad: 1}}'),
    ("POST", "/agents/$agent/versions",
     '{"config": {"type": "agent", "prompt_id": "$prompt"}, "message": $bad}'),
    ("POST", "/agents/$agent/versions",
     '{"config": {"type": "agent", "prompt_id": "$prompt"}, "model_config": {"model_id": $bad}}'),
    ("POST", "/agents/$agent/versions",
     '{"config": {"type": "agent", "prompt_id": "$prompt"}, "tools": [{"mcp_tool_id": $bad}]}'),
    ("POST", "/agents/$agent/preview", '{"input": {"x": $bad}}'),
    ("POST", "/agents/$agent/preview", '{"version_id": $bad}'),
    ("POST", "/agents/$agent/execute", '{"input": {"message": $bad}}'),
    ("POST", "/prompts", '{"name": $bad}'),
    ("POST", "/prompts", '{"name": "p", "system_prompt": $bad}'),
    ("PATCH", "/prompts/$prompt", '{"description": $bad}'),
    ("POST", "/prompts/$prompt/versions", '{"user_prompt": $bad}'),
    ("POST", "/prompts/$prompt/versions", '{"config": {$bad: 1}}'),
    ("POST", "/prompts/$prompt/preview", '{"input": {$bad: "x"}}'),
    ("POST", "/credentials", '{"name": $bad, "provider": "openai", "api_key": "sk-x"}'),
    ("POST", "/credentials", '{"name": "c", "provider": "openai", "api_key": $bad}'),
    ("POST", "/credentials", '{"name": "c", "type": $bad, "value": "sk-x"}'),
    ("PATCH", "/credentials/$credential", '{"description": $bad}'),
]

# bad JSON values other than text: non-finite numbers, nesting past the bound
BAD_VALUES = {"1e999": "1e999", "-1e999": "-1e999", "NaN": "NaN", "Infinity": "Infinity",
              "deep": "[" * 40 + "]" * 40, "very-deep": "[" * 5000 + "]" * 5000}


@pytest.mark.parametrize(("method", "path", "body"), cases(BODIES))
def test_text_the_database_cannot_store_is_a_400(world: World, unchanged: None, method: str,
                                                  path: str, body: str) -> None:
    for case, bad in BAD_TEXTS.items():
        text = Template(body).substitute(world.ids, bad=bad)
        response = send_raw(world.tenant.client, method, world.path(path), text)
        error = assert_refused(response, 400, case=case)
        assert "surrogate" in error["message"] or "NUL" in error["message"], (case, error)


@pytest.mark.parametrize(("method", "path", "body"), cases([
    ("POST", "/chat/sessions", '{"agent_id": "$agent", "metadata": {"n": $bad}}'),
    ("PATCH", "/chat/sessions/$session", '{"metadata": {"n": $bad}}'),
    ("POST", "/chat/sessions/$session/messages", '{"content": "hi", "x": $bad}'),
    ("POST", "/chat/sessions/$session/messages/stream", '{"content": $bad}'),
    ("POST", "/agents/$agent/versions",
     '{"config": {"type": "agent", "prompt_id": "$prompt"}, "run_budget": {"max_cost": $bad}}'),
    ("POST", "/agents/$agent/preview", '{"input": {"n": $bad}}'),
    ("POST", "/agents/$agent/execute", '{"input": {"n": $bad}}'),
    ("POST", "/prompts/$prompt/versions", '{"config": {"n": $bad}}'),
    ("POST", "/chat/sessions/$session/feedback", '{"execution_id": "$execution", "value": $bad}'),
]))
def test_non_finite_numbers_and_deep_nesting_are_a_400(world: World, unchanged: None,
                                                       method: str, path: str,
                                                       body: str) -> None:
    for case, bad in BAD_VALUES.items():
        text = Template(body).substitute(world.ids, bad=bad)
        response = send_raw(world.tenant.client, method, world.path(path), text)
        assert_refused(response, 400, case=case)


@pytest.mark.parametrize("path", ["/chat/sessions/$session/messages",
                                  "/chat/sessions/$session/messages/stream", "/chat/sessions"])
def test_a_deep_body_without_credentials_is_a_401(world: World, unchanged: None,
                                                  path: str) -> None:
    text = '{"content": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert_refused(send_raw(APIClient(), "POST", world.path(path), text), 401)


@pytest.mark.parametrize(("method", "path", "body"), cases([
    ("POST", "/agents/$agent/versions", '{"config": {"type": "agent", "prompt_id": "$prompt"}, '
                                        '"tools": [{"mcp_tool_id": "$tool", "sort_order": $n}]}'),
    ("POST", "/chat/sessions/$session/feedback", '{"execution_id": "$execution", "value": $n}'),
]))
def test_integers_past_a_columns_range_are_a_400(world: World, unchanged: None, method: str,
                                                 path: str, body: str) -> None:
    for n in ("100000000000000000000000000000", "-9223372036854775809", "2147483648"):
        text = Template(body).substitute(world.ids, n=n)
        response = send_raw(world.tenant.client, method, world.path(path), text)
        assert_refused(response, 400, case=n)


# --- query parameters ------------------------------------------------------------------------

LISTS = {
    "/chat/sessions": ["agent_id", "user_id", "search", "ordering", "metadata.k", "page"],
    "/chat/sessions/$session/messages": ["after", "before", "limit"],
    "/agents": ["type", "status", "name", "search"],
    "/prompts": ["search", "name"],
    "/credentials": ["type"],
    "/llm-models": ["provider", "is_active"],
    "/executions": ["agent_id", "session_id", "status"],
    "/traces": ["trace_id", "kind", "execution_id", "session_id", "status", "agent_id",
                "model_name", "date_from", "date_to"],
    "/traces/summary": ["session_id", "model_name", "agent_id", "date_from"],
    "/executions/$execution/stream": ["last_event_id"],
}


@pytest.mark.parametrize(("path", "names"), [
    pytest.param(path, names, id=path, marks=[COMMITTED] if "/stream" in path else [])
    for path, names in LISTS.items()])
def test_a_nul_in_a_query_parameter_is_a_400(world: World, unchanged: None, path: str,
                                              names: list[str]) -> None:
    client = world.tenant.client
    for name in names:
        error = assert_refused(client.get(world.path(path), {name: "a\x00b"}), 400, case=name)
        assert name in error["details"], error
        # in a parameter's name too
        assert_refused(client.get(world.path(path), {f"{name}\x00": "1"}), 400, case=name)


@pytest.mark.parametrize("path", ["/traces", "/traces/summary"])
@pytest.mark.parametrize("query", [
    "date_from=9999-12-31T23:59:59.999999-23:59", "date_to=9999-12-31T23:59:59.999999",
    "date_from=0001-01-01T00:00:00%2B23:59",
])
def test_dates_past_what_utc_holds_are_a_400(world: World, path: str, query: str) -> None:
    name = query.split("=")[0]
    error = assert_refused(world.tenant.client.get(f"{world.path(path)}?{query}"), 400)
    assert name in error["details"], error


# --- path ids and headers ----------------------------------------------------------------------

DETAIL_ROUTES = [
    ("GET", "/chat/sessions/$id"), ("PATCH", "/chat/sessions/$id"),
    ("DELETE", "/chat/sessions/$id"), ("GET", "/chat/sessions/$id/messages"),
    ("POST", "/chat/sessions/$id/messages"), ("POST", "/chat/sessions/$id/messages/stream"),
    ("POST", "/chat/sessions/$id/feedback"), ("POST", "/chat/sessions/$id/ws-ticket"),
    ("GET", "/agents/$id"), ("PATCH", "/agents/$id"), ("DELETE", "/agents/$id"),
    ("GET", "/agents/$id/versions"), ("POST", "/agents/$id/versions"),
    ("GET", "/agents/$agent/versions/$id"), ("POST", "/agents/$agent/versions/$id/promote"),
    ("POST", "/agents/$id/preview"), ("POST", "/agents/$id/execute"),
    ("GET", "/prompts/$id"), ("PATCH", "/prompts/$id"), ("DELETE", "/prompts/$id"),
    ("GET", "/prompts/$id/versions"), ("POST", "/prompts/$id/versions"),
    ("GET", "/prompts/$prompt/versions/$id"), ("POST", "/prompts/$prompt/versions/$id/promote"),
    ("POST", "/prompts/$id/preview"),
    ("GET", "/llm-models/$id"), ("GET", "/mcp-tools/$id"),
    ("GET", "/credentials/$id"), ("PATCH", "/credentials/$id"), ("DELETE", "/credentials/$id"),
    ("POST", "/credentials/$id/set-default"), ("POST", "/credentials/$id/check"),
    ("GET", "/executions/$id"), ("GET", "/executions/$id/tree"),
    ("POST", "/executions/$id/cancel"), ("GET", "/executions/$id/stream"),
    ("POST", "/executions/$id/approve"), ("POST", "/executions/$id/deny"),
    ("GET", "/traces/$id"),
]
BAD_IDS = {"nul": "a%00b", "nul-only": "%00", "surrogate-bytes": "%ED%A0%80",
           "long": "s" * 300}


@pytest.mark.parametrize(("method", "route"), cases(DETAIL_ROUTES))
def test_a_bad_path_id_is_a_404(world: World, unchanged: None, method: str,
                                route: str) -> None:
    body = '{"content": "hi", "title": "t", "name": "n", "value": 1}'
    for case, bad_id in BAD_IDS.items():
        response = send_raw(world.tenant.client, method, world.path(route, id=bad_id), body)
        assert_refused(response, 404, case=case)


@COMMITTED
@pytest.mark.parametrize("header", ["HTTP_IDEMPOTENCY_KEY", "HTTP_X_WORKSPACE_ID",
                                    "HTTP_LAST_EVENT_ID", "HTTP_X_API_KEY"])
def test_a_nul_in_a_header_is_a_400(world: World, unchanged: None, header: str) -> None:
    client = world.tenant.client
    if header == "HTTP_X_API_KEY":
        client = APIClient()  # the tenant's client would send its own key
    for method, path in (("POST", "/chat/sessions/$session/messages"),
                         ("GET", "/executions/$execution/stream"), ("GET", "/chat/sessions")):
        response = send_raw(client, method, world.path(path), '{"content": "hi"}',
                            **{header: "a\x00b"})
        assert_refused(response, 400)


# --- prompts that would not finish rendering ----------------------------------------------------

BOMBS = {
    "macro-recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "string-times": "{{ 'a' * 100000000 }}",
    "huge-range": "{{ range(10**9) | list }}",
    "huge-power": "{{ 10 ** (10 ** 10) }}",
    "nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                    "{% endfor %}",
    "doubling": "{% set s = 'a' * 1000 %}" + "{% set s = s ~ s %}" * 20 + "{{ s }}",
    "padding": "{{ 'a'.ljust(10**9) }}",
    "format-width": "{{ '{:>999999999}'.format(1) }}",
    "percent-width": "{{ '%999999999d' % 1 }}",
    "replace-empty": "{% set s = 'a' * 100000 %}{{ s.replace('', s) }}",
    "shared-references": "{% set a = ['x' * 100000] %}" + "{% set a = [a, a] %}" * 12
                         + "{{ a }}",
    "join": "{% set s = 'x' * 100000 %}{{ ([s] * 100) | join }}",
    "center-filter": "{{ 'a' | center(1000000000) }}",
    "recursive-loop": "{% for x in range(10) recursive %}{{ loop(range(10)) }}{% endfor %}",
    "output": "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}",
}


@pytest.fixture
def bomb_prompt(world: World) -> Any:
    """A prompt, and an agent on it (offline model), whose template is set per case."""
    prompt = prompt_create(workspace=world.tenant.workspace, name="bomb", initial_version={
        "system_prompt": "ok", "user_prompt": "", "version": "1"})
    agent = agent_create(workspace=world.tenant.workspace, name="bomber")
    agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                         set_current=True, model_config={"model_id": "echo"})
    return prompt, agent


@COMMITTED
@pytest.mark.parametrize("template", BOMBS.values(), ids=BOMBS.keys())
def test_template_bombs_are_refused_quickly(world: World, bomb_prompt: Any,
                                            template: str) -> None:
    prompt, agent = bomb_prompt
    client = world.tenant.client
    created = client.post(f"{API}/prompts/{prompt.pk}/versions",
                          {"system_prompt": template, "set_current": True}, format="json")
    assert created.status_code == 201, created.content
    session = Session.objects.create(workspace=world.tenant.workspace, agent=agent)
    before = snapshot()
    for path, body in ((f"/prompts/{prompt.pk}/preview", {"input": {}}),
                       (f"/agents/{agent.pk}/preview", {"input": {}}),
                       (f"/chat/sessions/{session.id}/messages", {"content": "hi"})):
        started = time.monotonic()
        response = client.post(API + path, body, format="json")
        elapsed = time.monotonic() - started
        error = assert_refused(response, 400)
        assert list(error["details"]) == ["system_prompt"], error
        assert elapsed < 2.5, (path, elapsed)
    assert snapshot() == before
