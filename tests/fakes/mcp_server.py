"""A real MCP server written with the official SDK (``mcp``'s MCPServer, formerly FastMCP),
served by uvicorn on loopback over streamable HTTP (``/mcp``) or SSE (``/sse``).

In a thread of the test process (:func:`start`; its :data:`STATE` is then readable by the
test) or as a subprocess (``python -m tests.fakes.mcp_server --port N --transport http``),
for the server that dies mid-call.

Tools: ``add``, ``whoami`` (echoes the Authorization header it got: a server that leaks
what it was sent), ``fail`` (raises: the tool's own error), ``hang`` (sleeps; counts the
cancellations that reach it), ``big`` (a result of ``megabytes`` MB), ``die`` (the process
exits mid-call).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.support.wait import wait_for

STATE: dict[str, Any] = {"auth": [], "cancelled": 0, "started": 0}
_state_lock = threading.Lock()


def build() -> MCPServer:
    server = MCPServer("test-tools")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def whoami() -> str:
        """Tell which credentials the caller sent."""
        auth = STATE["auth"][-1] if STATE["auth"] else ""
        return f"you sent Authorization: {auth}"

    @server.tool()
    def fail(message: str = "boom") -> str:
        """Always fails."""
        raise ToolError(message)

    @server.tool()
    async def hang(seconds: float = 60.0) -> str:
        """Sleeps for a long time."""
        with _state_lock:
            STATE["started"] += 1
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            with _state_lock:
                STATE["cancelled"] += 1
            raise
        return "woke up"

    @server.tool()
    def big(megabytes: float = 5.0) -> str:
        """Returns a very large text."""
        return "x" * int(megabytes * 1_000_000)

    @server.tool()
    def die() -> str:
        """The server process exits in the middle of the call."""
        os._exit(3)

    return server


class _RecordHeaders:
    """ASGI middleware: remembers the Authorization header of every request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    STATE["auth"].append(value.decode("latin-1"))
        await self.app(scope, receive, send)


def app(transport: str) -> Any:
    server = build()
    inner = server.sse_app() if transport == "sse" else server.streamable_http_app()
    return _RecordHeaders(inner)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    transport: str
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        path = "/sse" if self.transport == "sse" else "/mcp"
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)


def start(transport: str = "http") -> RunningServer:
    """The server in a daemon thread of this process."""
    port = free_port()
    config = uvicorn.Config(app(transport), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"mcp-{transport}", daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the MCP test server did not start")
        return server.started

    wait_for(started, 15, 0.02, what="the MCP test server to start")
    return RunningServer(transport=transport, port=port, server=server, thread=thread)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=("http", "sse"), default="http")
    args = parser.parse_args()
    uvicorn.run(app(args.transport), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
