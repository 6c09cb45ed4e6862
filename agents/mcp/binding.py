"""An attached MCP server's tools as runtime ``Tool`` objects (agents.runtime.tools).

Built when an agent is prepared, from the server's stored discovery: each tool is offered
to the model under a name valid for both providers and unique in the run
(``runtime.tools.valid_tool_name``: the server's own name for it when free, else prefixed
with the MCP tool's name). Calling it opens an MCP session with the server (agents.mcp.client).

The server's headers and its credential's value travel here encrypted, and are decrypted
and filled into the headers only inside a call: a prepared agent (cached per process) never
holds a secret in clear, and nothing a call returns or raises contains one (results and
errors are redacted of every secret the server was sent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agents.crypto import DecryptionError, decrypt_value
from agents.runtime.tools import ToolError, valid_tool_name
from agents.runtime.types import ToolSpec

from . import headers as header_codec
from .client import DEFAULT_TIMEOUT, McpError, ServerSpec, call_tool, content_text

MAX_DESCRIPTION_CHARS = 1024
MAX_TIMEOUT = 300.0


@dataclass(frozen=True)
class ServerRef:
    """How to reach one MCP server; secrets encrypted (decrypted per call by :meth:`spec`)."""

    tool_id: str
    name: str
    url: str
    transport: str
    encrypted_headers: str = field(default="", repr=False)
    encrypted_credential: str = field(default="", repr=False)

    def spec(self) -> ServerSpec:
        """The server with its headers filled; :class:`header_codec.HeaderError` names a
        missing placeholder, never a value."""
        try:
            stored = header_codec.decrypt(self.encrypted_headers)
            secret = (decrypt_value(self.encrypted_credential)
                      if self.encrypted_credential else None)
        except DecryptionError as exc:
            raise header_codec.HeaderError(str(exc)) from None
        fields = header_codec.secret_fields(secret) if secret is not None else None
        filled = header_codec.fill(stored, fields)
        secrets = tuple(sorted({v for v in (fields or {}).values() if len(v) >= 4}
                               | {v for v in stored.values() if len(v) >= 4
                                  and not header_codec.PLACEHOLDER.search(v)}
                               | {v for v in filled.values() if len(v) >= 4},
                               key=len, reverse=True))
        return ServerSpec(url=self.url, transport=self.transport, headers=filled,
                          secrets=secrets)


def _one_line(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class McpServerTool:
    """One tool of an MCP server, as the loop sees any tool."""

    name: str  # offered to the model
    description: str
    parameters: dict[str, Any]
    remote_name: str  # the server's name for it
    server: ServerRef
    timeout: float | None = DEFAULT_TIMEOUT
    kind: str = "mcp"
    attributes: dict[str, Any] = field(default_factory=dict, compare=False)

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description,
                        parameters=self.parameters)

    @property
    def run(self) -> Callable[[dict[str, Any]], Awaitable[str]]:
        return self._call

    @property
    def summarize(self) -> Callable[[dict[str, Any], str], str]:
        return self._summary

    async def _call(self, arguments: dict[str, Any]) -> str:
        try:
            spec = self.server.spec()
        except header_codec.HeaderError as exc:
            raise ToolError(str(exc)) from None
        try:
            outcome = await call_tool(spec, self.remote_name, arguments,
                                      limit=self.timeout or DEFAULT_TIMEOUT)
        except McpError as exc:
            raise ToolError(str(exc)) from None
        text = content_text(outcome, spec)
        if outcome.is_error:
            raise ToolError(text or "the tool reported an error")
        return text

    def _summary(self, arguments: dict[str, Any], result: str) -> str:
        return f"{self.server.name}/{self.remote_name}: {_one_line(result) or '(empty)'}"


def object_schema(schema: Any) -> dict[str, Any]:
    """An input schema both providers take: a JSON object schema."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    schema = dict(schema)
    if schema.get("type") != "object":
        schema["type"] = "object"
    if not isinstance(schema.get("properties"), dict):
        schema["properties"] = {}
    return schema


def server_tools(*, server: ServerRef, discovered: Iterable[dict[str, Any]],
                 allowed: Iterable[str] | None, taken: set[str],
                 timeout: float | None) -> list[McpServerTool]:
    """The server's discovered tools (only ``allowed`` ones when given) with names not in
    ``taken`` (which is updated)."""
    allow = set(allowed) if allowed is not None else None
    out: list[McpServerTool] = []
    for item in discovered:
        remote = item.get("name")
        if not isinstance(remote, str) or not remote or (allow is not None
                                                           and remote not in allow):
            continue
        name = valid_tool_name(remote, taken, prefix=server.name)
        taken.add(name)
        description = str(item.get("description") or f"{remote} (MCP server {server.name})")
        out.append(McpServerTool(
            name=name,
            description=description[:MAX_DESCRIPTION_CHARS],
            parameters=object_schema(item.get("inputSchema")),
            remote_name=remote,
            server=server,
            timeout=min(timeout or DEFAULT_TIMEOUT, MAX_TIMEOUT),
            attributes={"mcp_tool_id": server.tool_id, "mcp_server": server.name,
                        "mcp_tool": remote, "transport": server.transport},
        ))
    return out
