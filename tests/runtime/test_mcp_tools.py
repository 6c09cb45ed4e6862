"""MCP servers' tools in the agent loop, against real MCP servers (the official SDK's
MCPServer on loopback, tests/fakes/mcp_server.py): results, the server's own errors, a
hanging server, a 5 MB result, a server that dies mid-call, cancellation, secrets.
Every failure is a tool error the model sees and the run completes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from agents.crypto import encrypt_value
from agents.mcp import headers as header_codec
from agents.mcp.binding import McpServerTool, ServerRef, server_tools
from agents.mcp.client import ServerSpec, list_tools
from agents.runtime.loop import run_agent
from agents.runtime.providers.local import tool_command
from agents.runtime.tools import TOOL_NAME_MAX, valid_tool_name
from agents.runtime.types import AgentRun, ModelSpec, RunBudget, RunState, ToolEndEvent
from tests.fakes import mcp_server
from tests.fakes.mcp_server import RunningServer
from tests.runtime.helpers import Recorder
from tests.support.wait import wait_for, wait_for_async

LOCAL = ModelSpec(provider="local", model_id="echo")
SECRET = "s3cr3t-token-value-42"


@pytest.fixture(scope="module")
def http_server() -> Iterator[RunningServer]:
    server = mcp_server.start("http")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sse_server() -> Iterator[RunningServer]:
    server = mcp_server.start("sse")
    yield server
    server.stop()


def _tools(server: RunningServer, *, timeout: float = 10.0, headers: dict[str, str] | None = None,
           credential: str = "") -> list[McpServerTool]:
    ref = ServerRef(tool_id="t1", name="testsrv", url=server.url, transport=server.transport,
                    encrypted_headers=header_codec.encrypt(headers or {}),
                    encrypted_credential=encrypt_value(credential) if credential else "")
    discovered = asyncio.run(list_tools(ServerSpec(url=server.url, transport=server.transport)))
    return server_tools(server=ref, discovered=discovered, allowed=None, taken=set(),
                        timeout=timeout)


def _run(message: str, tools: list[Any]) -> tuple[Any, Recorder]:
    recorder = Recorder()
    run = AgentRun(model=LOCAL, system="", history=(), user_message=message,
                   tools=tuple(tools), budget=RunBudget(max_tool_calls=3))
    return asyncio.run(run_agent(run, recorder)), recorder


def _end(recorder: Recorder) -> ToolEndEvent:
    ends = recorder.of(ToolEndEvent)
    assert len(ends) == 1, recorder.events
    return ends[0]


@pytest.mark.usefixtures("allow_loopback")
def test_a_tool_of_an_http_server_is_called_and_answered_from(http_server: RunningServer) -> None:
    result, recorder = _run('/tool add {"a": 2, "b": 3}', _tools(http_server))

    assert result.status == "completed", result.error
    end = _end(recorder)
    assert (end.name, end.result, end.error) == ("add", "5", None)
    assert end.summary == "testsrv/add: 5"
    assert "The add tool returned: 5" in result.content
    run = result.tool_runs[0]
    assert run.kind == "mcp"
    assert run.attributes == {"mcp_tool_id": "t1", "mcp_server": "testsrv", "mcp_tool": "add",
                              "transport": "http"}


@pytest.mark.usefixtures("allow_loopback")
def test_a_tool_of_an_sse_server_is_called(sse_server: RunningServer) -> None:
    result, recorder = _run('/tool add {"a": 40, "b": 2}', _tools(sse_server))

    assert result.status == "completed", result.error
    assert _end(recorder).result == "42"


@pytest.mark.usefixtures("allow_loopback")
def test_the_servers_own_error_is_a_tool_error(http_server: RunningServer) -> None:
    result, recorder = _run('/tool fail {"message": "no such order"}', _tools(http_server))

    assert result.status == "completed"
    end = _end(recorder)
    assert end.error is not None and "no such order" in end.error
    assert "The fail tool failed" in result.content


@pytest.mark.usefixtures("allow_loopback")
def test_a_hanging_server_is_a_tool_error_after_the_per_call_timeout(
        http_server: RunningServer) -> None:
    result, recorder = _run('/tool hang {"seconds": 60}', _tools(http_server, timeout=0.5))

    assert result.status == "completed"
    error = _end(recorder).error
    assert error is not None and ("0.5s" in error), error


@pytest.mark.usefixtures("allow_loopback")
def test_a_five_megabyte_result_is_a_tool_error(http_server: RunningServer) -> None:
    result, recorder = _run('/tool big {"megabytes": 5}', _tools(http_server))

    assert result.status == "completed"
    end = _end(recorder)
    assert end.error is not None and "1000000 byte limit" in end.error, end.error
    assert len(result.content) < 5000


@pytest.mark.usefixtures("allow_loopback")
def test_a_large_result_under_the_limit_is_cut_for_the_model(http_server: RunningServer) -> None:
    result, recorder = _run('/tool big {"megabytes": 0.1}', _tools(http_server))

    assert result.status == "completed"
    end = _end(recorder)
    assert end.error is None
    assert end.result.startswith("x" * 1000)
    assert "[truncated: the result was 100000 characters" in end.result
    assert len(end.result) < 21_000


@pytest.mark.usefixtures("allow_loopback")
def test_a_server_that_dies_mid_call_is_a_tool_error() -> None:
    port = mcp_server.free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.mcp_server", "--port",
                                str(port), "--transport", "http"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        server = RunningServer(transport="http", port=port)

        def listed() -> list[McpServerTool]:
            assert process.poll() is None, "the MCP server process exited"
            try:
                return _tools(server)
            except Exception:
                return []  # not listening yet

        tools = wait_for(listed, 20, 0.1, what="the MCP server's tools")
        result, recorder = _run("/tool die", tools)
    finally:
        process.kill()
        process.wait(10)

    assert result.status == "completed"
    error = _end(recorder).error
    assert error is not None and error, recorder.events


@pytest.mark.usefixtures("allow_loopback")
def test_cancelling_the_run_cancels_the_call_on_the_server(http_server: RunningServer) -> None:
    tools = _tools(http_server)
    started, cancelled = mcp_server.STATE["started"], mcp_server.STATE["cancelled"]

    async def scenario() -> RunState:
        state = RunState()
        run = AgentRun(model=LOCAL, system="", history=(), user_message='/tool hang {}',
                       tools=tuple(tools), budget=RunBudget(max_tool_calls=3))
        task = asyncio.ensure_future(run_agent(run, Recorder(), state))
        await wait_for_async(lambda: mcp_server.STATE["started"] != started, 20,
                             what="the call to reach the server")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return state

    asyncio.run(asyncio.wait_for(scenario(), 30))
    wait_for(lambda: mcp_server.STATE["cancelled"] != cancelled, 15, 0.02,
             what="the server's tool to be cancelled")


@pytest.mark.usefixtures("allow_loopback")
def test_header_secrets_are_filled_at_call_time_and_never_come_back(
        http_server: RunningServer) -> None:
    tools = _tools(http_server, headers={"Authorization": "Bearer {{token}}"},
                   credential=f'{{"token": "{SECRET}"}}')
    assert SECRET not in repr(tools)

    result, recorder = _run("/tool whoami", tools)

    assert mcp_server.STATE["auth"][-1] == f"Bearer {SECRET}"  # the server got it
    end = _end(recorder)
    assert end.result.startswith("you sent Authorization: ") and "[redacted]" in end.result
    assert SECRET not in repr(result) and SECRET not in repr(recorder.events)


def test_a_loopback_server_is_refused_by_the_outbound_policy(
        http_server: RunningServer) -> None:
    ref = ServerRef(tool_id="t1", name="testsrv", url=http_server.url, transport="http")
    tool = server_tools(server=ref, discovered=[{"name": "add", "inputSchema": {}}],
                        allowed=None, taken=set(), timeout=5)[0]

    result, recorder = _run('/tool add {"a": 1, "b": 1}', [tool])

    assert result.status == "completed"
    error = _end(recorder).error
    assert error is not None and "not allowed" in error, error


def test_offered_names_are_valid_for_both_providers_and_unique() -> None:
    ref = ServerRef(tool_id="t1", name="my server", url="http://x.test/mcp", transport="http")
    discovered = [{"name": "calculator"}, {"name": "get weather!"}, {"name": "a" * 100},
                  {"name": "skip-me"}, {"name": "calculator"}]
    tools = server_tools(server=ref, discovered=discovered,
                         allowed=["calculator", "get weather!", "a" * 100], taken={"calculator"},
                         timeout=None)
    names = [t.name for t in tools]
    assert names[0] == "my_server_calculator"
    assert names[1] == "get_weather"
    assert len(names) == len(set(names)) == 4
    assert all(len(n) <= TOOL_NAME_MAX for n in names)
    assert [t.remote_name for t in tools] == ["calculator", "get weather!", "a" * 100,
                                              "calculator"]
    assert valid_tool_name("x", {"x", "p_x"}, prefix="p").startswith("p_x_")


def test_the_offline_models_tool_command() -> None:
    assert tool_command('/tool add {"a": 1}') == ("add", {"a": 1})
    assert tool_command("/tool clock") == ("clock", {})
    assert tool_command("/tool add [1]") == ("add", {"__invalid_json__": "[1]"})
    assert tool_command("hello /tool add") is None
    result, _ = _run("/tool nothing", [])
    assert "There is no tool named 'nothing'" in result.content
