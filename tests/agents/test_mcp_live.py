"""MCP servers as agent tools end to end, on the ASGI server in a subprocess: the official
PromptRails SDK unchanged (create → discover → call), agents on the fake OpenAI and
Anthropic servers calling an MCP tool with streamed tool events, later turns' history,
a failing tool, cancel during a call, and secrets that never leave (issue #17)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agents.models import Agent, LLMModel
from agents.services import agent_create, agent_version_create, credential_create, prompt_create
from executions.models import Execution, Span
from tests.fakes import mcp_server
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.mcp_server import RunningServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import FakeReply, FakeToolCall
from tests.helpers import Tenant, make_tenant
from tests.live import LiveServer
from tests.sdk import PromptRails, errors, events
from tests.support.live import ensure_local_model
from tests.support.wait import wait_for

SECRET = "mcp-secret-7c1f2e9a8b"
_SERVER: dict[str, LiveServer] = {}


@pytest.fixture(scope="module")
def mcp() -> Iterator[RunningServer]:
    running = mcp_server.start("http")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def mcp_live_server(live_server_factory: Any) -> LiveServer:
    """The ASGI server with loopback allowed (the MCP and fake model servers listen there)."""
    server = _SERVER.get("server")
    if server is None or server.process.poll() is not None:
        server = _SERVER["server"] = live_server_factory(
            PROMPTRAILS_OUTBOUND_ALLOW="127.0.0.1", PROMPTRAILS_LOCAL_MODEL_DELAY="0")
    return server


@pytest.fixture
def live(mcp_live_server: LiveServer, transactional_db: None) -> LiveServer:
    return mcp_live_server.running()


@pytest.fixture
def tenant(live: LiveServer) -> Tenant:
    return make_tenant("MCP live")


@pytest.fixture
def sdk(live: LiveServer, tenant: Tenant) -> Any:
    return PromptRails(api_key=tenant.raw_key, base_url=live.url, max_retries=0)


def _agent(tenant: Tenant, tool_id: str, *, provider: str = "local", base_url: str = "",
           model_id: str = "echo") -> Agent:
    if provider == "local":
        ensure_local_model()
    else:
        LLMModel.objects.update_or_create(
            provider=provider, model_id=model_id,
            defaults={"display_name": model_id, "base_url": base_url, "max_tokens": 32000})
    prompt = prompt_create(workspace=tenant.workspace, name=f"{model_id} prompt",
                           initial_version={"system_prompt": "Use the tools.",
                                            "user_prompt": "", "version": "1.0.0"})
    agent = agent_create(workspace=tenant.workspace, name=f"{model_id} agent")
    agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                         set_current=True, model_config={"model_id": model_id},
                         run_budget={"max_tool_calls": 3},
                         tools=[{"mcp_tool_id": tool_id}])
    return agent


def _mcp_tool(sdk: Any, server: RunningServer, **extra: Any) -> Any:
    return sdk.mcp_tools.create(name="tools", type="remote_mcp",
                                config={"url": server.url, "transport_type": "http",
                                        **extra.pop("config", {})}, **extra)


def test_the_sdk_creates_discovers_and_calls(sdk: Any, mcp: RunningServer) -> None:
    tool = _mcp_tool(sdk, mcp)
    assert tool.type == "remote_mcp" and tool.status == "active"

    discovered = sdk.mcp_tools.discover_tools(tool.id)
    assert {"add", "whoami", "fail", "hang"} <= {t.name for t in discovered.tools}
    add = next(t for t in discovered.tools if t.name == "add")
    assert add.description == "Add two integers." and add.input_schema["type"] == "object"
    assert len(discovered.trace_id) == 32

    result = sdk.mcp_tools.call_tool(tool.id, tool_name="add", arguments={"a": 1, "b": 2})
    assert (result.is_error, [(c.type, c.text) for c in result.content]) == (
        False, [("text", "3")])
    failed = sdk.mcp_tools.call_tool(tool.id, tool_name="fail", arguments={"message": "x"})
    assert failed.is_error is True

    assert sdk.mcp_tools.get(tool.id).name == "tools"
    assert tool.id in [t.id for t in sdk.mcp_tools.list(limit=100).data]
    assert sdk.mcp_tools.update(tool.id, name="renamed").name == "renamed"
    sdk.mcp_tools.delete(tool.id)
    with pytest.raises(errors.NotFoundError):
        sdk.mcp_tools.get(tool.id)


def _tool_messages(provider: str, body: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """(tool calls, tool results) in a recorded request body, in the provider's shape."""
    calls: list[Any] = []
    results: list[Any] = []
    for message in body["messages"]:
        if provider == "openai":
            calls += message.get("tool_calls") or []
            if message["role"] == "tool":
                results.append(message)
        elif isinstance(message.get("content"), list):
            calls += [b for b in message["content"] if b.get("type") == "tool_use"]
            results += [b for b in message["content"] if b.get("type") == "tool_result"]
    return calls, results


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_agent_calls_an_mcp_tool_and_answers_with_its_result(
        provider: str, sdk: Any, tenant: Tenant, mcp: RunningServer,
        fake_openai: FakeOpenAIServer, fake_anthropic: FakeAnthropicServer) -> None:
    fake = fake_openai if provider == "openai" else fake_anthropic
    tool = _mcp_tool(sdk, mcp)
    sdk.mcp_tools.discover_tools(tool.id)
    agent = _agent(tenant, tool.id, provider=provider, base_url=fake.base_url,
                   model_id=f"fake-{provider}")
    fake.enqueue(FakeReply(tool_calls=[FakeToolCall(name="add", arguments={"a": 2, "b": 3},
                                                    id="call_mcp_1")]),
                 FakeReply(text="The sum is 5."))
    session = sdk.chat.create_session(agent_id=agent.pk)

    received = list(sdk.chat.send_message_stream(session.id, content="What is 2+3?"))

    kinds = [type(e).__name__ for e in received]
    assert kinds[-1] == "DoneEvent", received
    start = next(e for e in received if isinstance(e, events.ToolStartEvent))
    end = next(e for e in received if isinstance(e, events.ToolEndEvent))
    assert start.name == end.name == "add" and end.summary == "tools/add: 5"
    content = "".join(e.content for e in received if isinstance(e, events.ContentEvent))
    assert content == "The sum is 5."
    offered = fake.chat_requests()[0].json["tools"]
    names = [t["function"]["name"] if provider == "openai" else t["name"] for t in offered]
    assert "add" in names and "whoami" in names
    calls, results = _tool_messages(provider, fake.chat_requests()[1].json)
    assert len(calls) == 1 and len(results) == 1
    result_text = results[0]["content"]
    assert result_text == "5" or result_text == [{"type": "text", "text": "5"}]

    execution = Execution.objects.get(pk=received[0].execution_id)
    span = Span.objects.get(execution=execution, kind="mcp_call")
    assert span.attributes["mcp_tool"] == "add" and span.attributes["mcp_tool_id"] == tool.id

    # the next turn's history carries the call and its result the way the provider expects
    fake.enqueue(FakeReply(text="Still 5."))
    reply = sdk.chat.send_message(session.id, content="And again?")
    assert reply.content == "Still 5."
    calls, results = _tool_messages(provider, fake.chat_requests()[2].json)
    assert len(calls) == 1 and len(results) == 1
    messages = fake.chat_requests()[2].json["messages"]
    assert messages[-1]["role"] == "user"


def test_the_offline_model_calls_an_mcp_tool_and_a_failing_one_completes(
        sdk: Any, tenant: Tenant, mcp: RunningServer) -> None:
    tool = _mcp_tool(sdk, mcp)
    agent = _agent(tenant, tool.id)  # never discovered: the first turn discovers
    session = sdk.chat.create_session(agent_id=agent.pk)

    reply = sdk.chat.send_message(session.id, content='/tool add {"a": 20, "b": 22}')
    assert "The add tool returned: 42" in reply.content

    reply = sdk.chat.send_message(session.id, content='/tool fail {"message": "out of stock"}')
    assert "The fail tool failed" in reply.content and "out of stock" in reply.content
    statuses = set(Execution.objects.filter(session_id=session.id).values_list("status",
                                                                                flat=True))
    assert statuses == {"completed"}


def test_cancel_during_a_call_reaches_the_server(sdk: Any, tenant: Tenant,
                                                 mcp: RunningServer) -> None:
    tool = _mcp_tool(sdk, mcp)
    agent = _agent(tenant, tool.id)
    session = sdk.chat.create_session(agent_id=agent.pk)
    started, cancelled = mcp_server.STATE["started"], mcp_server.STATE["cancelled"]
    received: list[Any] = []

    def stream() -> None:
        received.extend(sdk.chat.send_message_stream(session.id,
                                                     content='/tool hang {"seconds": 60}'))

    thread = threading.Thread(target=stream)
    thread.start()
    wait_for(lambda: mcp_server.STATE["started"] > started, what="the call to start")
    execution_id = wait_for(lambda: received and received[0].execution_id,
                            what="the execution event")
    sdk.executions.cancel(execution_id)
    thread.join(30)
    assert not thread.is_alive()
    assert Execution.objects.get(pk=execution_id).status == "cancelled"
    wait_for(lambda: mcp_server.STATE["cancelled"] > cancelled,
             what="the server's tool to be cancelled")


def test_secrets_never_appear_in_a_response_log_or_trace(sdk: Any, tenant: Tenant,
                                                         live: LiveServer,
                                                         mcp: RunningServer) -> None:
    credential = credential_create(workspace=tenant.workspace, name="mcp", type="mcp",
                                   category="mcp", value=json.dumps({"token": SECRET}))
    tool = _mcp_tool(sdk, mcp, credential_id=credential.pk,
                     config={"headers": {"Authorization": "Bearer {{token}}"}})
    agent = _agent(tenant, tool.id)
    session = sdk.chat.create_session(agent_id=agent.pk)

    received = list(sdk.chat.send_message_stream(session.id, content="/tool whoami"))

    assert mcp_server.STATE["auth"][-1] == f"Bearer {SECRET}"  # the server got it
    seen = [repr(received), repr(sdk.mcp_tools.get(tool.id)),
            repr(sdk.mcp_tools.list(limit=100).data),
            repr(sdk.chat.list_messages(session.id).data),
            json.dumps(list(Span.objects.filter(workspace=tenant.workspace).values(
                "input", "output", "attributes", "error", "name")), default=str),
            repr(sdk.mcp_tools.call_tool(tool.id, tool_name="whoami")),
            live.log()]
    for text in seen:
        assert SECRET not in text
    assert "[redacted]" in repr(received)
