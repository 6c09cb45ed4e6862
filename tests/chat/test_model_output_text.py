"""A model's output may hold what PostgreSQL cannot store (NUL, unpaired surrogates, NaN in
tool arguments): the turn still completes and everything stored is cleaned — NUL dropped,
each unpaired surrogate replaced by U+FFFD. Through a real chat turn, on the OpenAI and
Anthropic fakes (their real SSE wire format) and on the offline model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.models import Agent, LLMModel
from agents.runtime.types import INVALID_ARGUMENTS_KEY
from agents.services import agent_create, agent_version_create, builtin_tools_ensure, prompt_create
from chat.models import Message, Session
from executions import log
from executions.models import Execution, ExecutionEvent, Span
from promptrails.models import Workspace
from tests.fakes.server import FakeReply, FakeToolCall
from tests.helpers import Tenant
from tests.support.live import ensure_local_model

# the async send view reads through other threads' connections: data must be committed
pytestmark = pytest.mark.django_db(transaction=True)

BASE = "/api/v1/chat/sessions"


def _agent(workspace: Workspace, provider: str, *, base_url: str = "", model_id: str = "",
           user_prompt: str = "") -> Agent:
    if provider != "local":
        model_id = f"dirty-{provider}"
        LLMModel.objects.update_or_create(
            provider=provider, model_id=model_id,
            defaults={"display_name": model_id, "base_url": base_url, "max_tokens": 32000})
    prompt = prompt_create(workspace=workspace, name=f"{provider} prompt", initial_version={
        "system_prompt": "Be brief.", "user_prompt": user_prompt, "version": "1"})
    agent = agent_create(workspace=workspace, name=f"{provider} agent")
    tools = builtin_tools_ensure(workspace=workspace)
    calculator = next(t for t in tools if t.name == "calculator")
    agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                         set_current=True, model_config={"model_id": model_id},
                         tools=[{"mcp_tool_id": calculator.pk}])
    return agent


def _stored_text(session: Session) -> str:
    """Everything the turn stored, as one JSON text (escapes kept as escapes)."""
    executions = Execution.objects.filter(session_id=session.id)
    rows: list[Any] = [
        list(Message.objects.filter(session=session).values()),
        list(executions.values()),
        list(Span.objects.filter(execution__in=executions).values()),
        list(ExecutionEvent.objects.filter(execution__in=executions).values()),
    ]
    return json.dumps(rows, default=str)


def _assert_clean(session: Session) -> None:
    stored = _stored_text(session)
    assert "\\u0000" not in stored
    for escape in ("\\ud800", "\\udfff", "\\udc00"):
        assert escape not in stored


def _send(tenant: Tenant, agent: Agent, content: str = "hello") -> tuple[Session, Any]:
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    response = tenant.client.post(f"{BASE}/{session.id}/messages", {"content": content},
                                  format="json")
    return session, response


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_dirty_text_thinking_and_tool_calls_are_stored_clean(
        provider: str, tenant: Tenant, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue(f"fake_{provider}")
    base_url = server.base_url if provider == "openai" else server.root_url
    agent = _agent(tenant.workspace, provider, base_url=base_url)
    server.enqueue(
        FakeReply(text="Let me \x00compute\ud800.", thinking="hmm\x00 \udfffok",
                  tool_calls=[FakeToolCall(name="calcu\x00lator", id="call\x00_1",
                                           arguments={"expression": "6*7\x00",
                                                      "no\x00te": "x\ud800"})]),
        FakeReply(text="The answer\x00 is 42 \ud83d\ude00 \udc00!"),
    )
    session, response = _send(tenant, agent)
    assert response.status_code == 201, response.content
    reply = response.json()["data"]
    assert reply["content"] == "Let me compute\ufffd.\n\nThe answer is 42 \U0001f600 \ufffd!"

    execution = Execution.objects.get(session_id=session.id)
    assert execution.status == "completed", execution.error
    message = Message.objects.get(session=session, role="assistant")
    assert message.content == reply["content"]
    assert message.tool_calls == [{"id": "call_1", "name": "calculator",
                                   "arguments": {"expression": "6*7", "note": "x\ufffd"}}]
    assert message.tool_results is not None
    assert message.tool_results[0]["result"] == "42" and message.tool_results[0]["error"] is None
    thinking = [e for e in log.read(execution.id) if e["type"] == "thinking"]
    assert "".join(t["content"] for t in thinking) == "hmm \ufffdok"
    _assert_clean(session)
    # the model was sent the cleaned call on the next round
    second = server.chat_requests()[-1].json
    assert "\\u0000" not in json.dumps(second)


def test_non_finite_tool_arguments_are_refused_not_stored(tenant: Tenant, fake_openai: Any
                                                           ) -> None:
    agent = _agent(tenant.workspace, "openai", base_url=fake_openai.base_url)
    fake_openai.enqueue(
        FakeReply(tool_calls=[FakeToolCall(name="calculator",
                                           arguments={"expression": float("nan")})]),
        FakeReply(text="Sorry."),
    )
    session, response = _send(tenant, agent)
    assert response.status_code == 201, response.content
    message = Message.objects.get(session=session, role="assistant")
    assert message.tool_results is not None
    assert "not a valid JSON object" in message.tool_results[0]["error"]
    # kept as text, never as a number JSON has not
    assert message.tool_calls is not None
    assert message.tool_calls[0]["arguments"] == {INVALID_ARGUMENTS_KEY: '{"expression": NaN}'}
    json.dumps(message.tool_calls, allow_nan=False)
    assert Execution.objects.get(session_id=session.id).status == "completed"


def test_the_offline_model_echoing_dirty_text_is_stored_clean(tenant: Tenant) -> None:
    ensure_local_model()
    # the user prompt renders NUL and a lone surrogate (Jinja string escapes); the offline
    # model quotes it back
    agent = _agent(tenant.workspace, "local", model_id="echo",
                   user_prompt='{{ message }} {{ "\\x00" }}{{ "\\ud800" }}end')
    session, response = _send(tenant, agent, "hi there")
    assert response.status_code == 201, response.content
    content = response.json()["data"]["content"]
    assert "hi there \ufffdend" in content and "\x00" not in content
    assert Execution.objects.get(session_id=session.id).status == "completed"
    _assert_clean(session)
