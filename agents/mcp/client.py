"""Talk to an MCP server with the official SDK: list its tools, call one.

One MCP session per operation (connect, ``initialize``, the request, close), over the
SDK's streamable-HTTP or SSE client transport. For streamable HTTP the HTTP client — its
pool of kept-alive connections — is reused per (event loop, server, headers), so calls to
one server share TCP/TLS connections; an SSE session is its own long-lived GET, opened per
operation. Every connection passes the outbound policy (``agents.mcp.http``).

Nothing here knows Django. Every failure is an :class:`McpError` whose message is safe to
show (it never carries a header value); a cancelled caller cancels the request (the SDK
sends the server ``notifications/cancelled`` and the HTTP exchange is closed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from promptrails.outbound import OutboundRefused, refusal_in

from .http import checked_client

logger = logging.getLogger("promptrails.mcp")

TRANSPORTS = ("http", "sse")
DEFAULT_TIMEOUT = 30.0
MAX_RESULT_BYTES = 1_000_000  # a result larger than this is an error, not a truncation
MAX_TOOLS = 500
MAX_PAGES = 20
_CLIENTS_PER_LOOP = 32


class McpError(Exception):
    """A server that cannot be reached or answered badly; the message is safe to show."""


@dataclass(frozen=True)
class ServerSpec:
    url: str
    transport: str = "http"  # "http" (streamable HTTP) | "sse"
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)  # to redact

    def redact(self, text: str) -> str:
        """``text`` with every secret this server was given replaced (a server may echo
        a header back)."""
        for secret in self.secrets:
            if len(secret) >= 4 and secret in text:
                text = text.replace(secret, "[redacted]")
        return text


@dataclass(frozen=True)
class CallOutcome:
    content: list[dict[str, Any]]
    is_error: bool
    structured: Any = None


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                    OrderedDict[tuple[str, str], httpx2.AsyncClient]] = (
    weakref.WeakKeyDictionary())


def _shared_client(spec: ServerSpec) -> httpx2.AsyncClient:
    loop = asyncio.get_running_loop()
    cache = _clients.setdefault(loop, OrderedDict())
    digest = sha256(json.dumps(sorted(spec.headers.items())).encode()).hexdigest()
    key = (spec.url, digest)
    client = cache.get(key)
    if client is None or client.is_closed:
        client = cache[key] = checked_client(headers=spec.headers)
        while len(cache) > _CLIENTS_PER_LOOP:
            _, old = cache.popitem(last=False)
            loop.create_task(old.aclose())  # noqa: RUF006 - best effort
    cache.move_to_end(key)
    return client


@asynccontextmanager
async def _session(spec: ServerSpec, limit: float) -> AsyncIterator[ClientSession]:
    if spec.transport == "sse":
        async with sse_client(spec.url, headers=spec.headers, timeout=limit,
                              sse_read_timeout=limit,
                              httpx_client_factory=checked_client) as streams, \
                ClientSession(streams[0], streams[1], read_timeout_seconds=limit) as session:
            await session.initialize()
            yield session
        return
    async with streamable_http_client(spec.url, http_client=_shared_client(spec),
                                      max_sse_event_size=MAX_RESULT_BYTES) as streams, \
            ClientSession(streams[0], streams[1], read_timeout_seconds=limit) as session:
        await session.initialize()
        yield session


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _message(exc: BaseException, spec: ServerSpec, timeout: float) -> str:
    refused = refusal_in(exc) or (exc if isinstance(exc, OutboundRefused) else None)
    if refused is not None:
        return str(refused)
    leaf = _leaf(exc)
    refused = refusal_in(leaf)
    if refused is not None:
        return str(refused)
    if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
        return f"the MCP server did not answer within {timeout:g}s"
    if isinstance(leaf, MCPError):
        return spec.redact(f"the MCP server answered with an error: {leaf.error.message}")
    if isinstance(leaf, httpx2.HTTPStatusError):
        return f"the MCP server answered HTTP {leaf.response.status_code}"
    if isinstance(leaf, httpx2.TransportError):
        return f"cannot reach the MCP server ({type(leaf).__name__})"
    text = str(leaf).strip() or type(leaf).__name__
    return spec.redact(f"MCP error: {type(leaf).__name__}: {text[:300]}")


async def _run(spec: ServerSpec, limit: float, op: Any) -> Any:
    try:
        async with asyncio.timeout(limit):
            async with _session(spec, limit) as session:
                return await op(session)
    except McpError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes a safe McpError
        message = _message(exc, spec, limit)
        logger.info("MCP %s %s failed: %s", spec.transport, spec.url, message)
        raise McpError(message) from None


async def list_tools(spec: ServerSpec, *, limit: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """The server's tools as ``{"name", "description", "inputSchema"}`` (all pages)."""

    async def op(session: ClientSession) -> list[dict[str, Any]]:
        from mcp_types import PaginatedRequestParams

        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            result = await session.list_tools(params=params)
            for tool in result.tools:
                schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
                tools.append({"name": tool.name, "description": tool.description or "",
                              "inputSchema": schema or {"type": "object", "properties": {}}})
            cursor = result.next_cursor
            if not cursor or len(tools) >= MAX_TOOLS:
                break
        return tools[:MAX_TOOLS]

    return await _run(spec, limit, op)  # type: ignore[no-any-return]


async def call_tool(spec: ServerSpec, name: str, arguments: dict[str, Any], *,
                    limit: float = DEFAULT_TIMEOUT) -> CallOutcome:
    """Call one tool; a tool-level failure is ``is_error`` (the server said so), anything
    else (unreachable, timed out, protocol error, a result over MAX_RESULT_BYTES) an
    :class:`McpError`."""

    async def op(session: ClientSession) -> CallOutcome:
        result = await session.call_tool(name, arguments, read_timeout_seconds=limit)
        content = [block.model_dump(mode="json", by_alias=True, exclude_none=True)
                   for block in getattr(result, "content", None) or []]
        structured = getattr(result, "structured_content", None)
        size = len(json.dumps(content)) + (len(json.dumps(structured)) if structured else 0)
        if size > MAX_RESULT_BYTES:
            raise McpError(f"the tool's result is too large ({size} bytes; the limit is "
                           f"{MAX_RESULT_BYTES})")
        return CallOutcome(content=content, is_error=bool(getattr(result, "is_error", False)),
                           structured=structured)

    return await _run(spec, limit, op)  # type: ignore[no-any-return]


def content_text(outcome: CallOutcome, spec: ServerSpec | None = None) -> str:
    """The result as text for a model: text blocks as they are, other kinds described."""
    parts: list[str] = []
    for block in outcome.content:
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} content, {block.get('mimeType', 'unknown type')}]")
        elif kind == "resource_link":
            parts.append(f"[resource: {block.get('uri', '')}]")
        elif kind == "resource":
            resource = block.get("resource") or {}
            parts.append(str(resource.get("text")) if "text" in resource
                         else f"[resource: {resource.get('uri', '')}]")
        else:
            parts.append(json.dumps(block, ensure_ascii=False)[:2000])
    if not parts and outcome.structured is not None:
        parts.append(json.dumps(outcome.structured, ensure_ascii=False))
    text = "\n".join(parts)
    return spec.redact(text) if spec is not None else text
