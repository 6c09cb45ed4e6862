"""Writes and actions of MCP tools: create/update/delete, discover, call (docs/api.md §10).

A ``remote_mcp`` tool's config is checked when saved (its URL by the outbound policy, its
headers' shape and placeholders against the linked credential); its headers are stored
encrypted and shown masked (agents.mcp.headers). Discovery is stored on the row and
refreshed on demand (``POST …/discover``) and, when older than ``MCP_DISCOVERY_TTL``, by
the next preparation of an agent that uses it (agents.preparation).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.crypto import DecryptionError, decrypt_value
from agents.models import Credential, McpTool
from agents.runtime.tools import BUILTIN_TOOLS, ToolError
from agents.signals import configuration_changed
from promptrails.errors import DomainError, InvalidInput, UpstreamError
from promptrails.models import Workspace
from promptrails.outbound import OutboundRefused, check_url
from promptrails.storable import storable_value
from promptrails.tenancy import scoped_get

from . import headers as header_codec
from .binding import MAX_TIMEOUT, ServerRef
from .client import DEFAULT_TIMEOUT, TRANSPORTS, McpError, ServerSpec, call_tool, list_tools

logger = logging.getLogger("promptrails.mcp")

REMOTE_MCP = "remote_mcp"
BUILTIN = "builtin"
TRANSPORT_ALIASES = {"http": "http", "streamable_http": "http", "streamable-http": "http",
                     "streamablehttp": "http", "sse": "sse"}
DISCOVERY_TIMEOUT = 15.0
MAX_URL_CHARS = 2000
MAX_ALLOWED_TOOLS = 500


def discovery_ttl() -> float:
    return float(getattr(settings, "MCP_DISCOVERY_TTL_SECONDS", 3600))


def _invalid(field: str, message: str) -> DomainError:
    return InvalidInput({field: [message]}, message=message)


def _upstream(message: str) -> UpstreamError:
    return UpstreamError(message)


# --- config ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanConfig:
    public: dict[str, Any]  # stored in McpTool.config (headers masked)
    headers: dict[str, str]  # as written (stored encrypted)


def _credential(workspace: Workspace, credential_id: Any) -> Credential | None:
    if credential_id in (None, ""):
        return None
    if not isinstance(credential_id, str):
        raise _invalid("credential_id", "credential_id must be a string.")
    credential = scoped_get(Credential.objects.all(), workspace, credential_id, "credential")
    return credential


def _credential_fields(credential: Credential | None) -> dict[str, str] | None:
    if credential is None:
        return None
    try:
        return header_codec.secret_fields(decrypt_value(credential.encrypted_value))
    except DecryptionError as exc:
        raise _invalid("credential_id", str(exc)) from None


def _clean_url(config: dict[str, Any]) -> str:
    url = config.get("url")
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_CHARS:
        raise _invalid("config.url", "config.url must be the MCP server's http(s) URL.")
    url = url.strip()
    try:
        check_url(url)
    except OutboundRefused as exc:
        raise _invalid("config.url", str(exc)) from None
    return url


def _clean_transport(config: dict[str, Any]) -> str:
    raw = config.get("transport_type", "http")
    transport = TRANSPORT_ALIASES.get(raw.lower()) if isinstance(raw, str) else None
    if transport not in TRANSPORTS:
        raise _invalid("config.transport_type", "transport_type must be 'http' (streamable "
                       "HTTP) or 'sse'.")
    return transport


def _clean_headers(config: dict[str, Any], old_headers: dict[str, str] | None,
                   credential: Credential | None) -> dict[str, str]:
    """The headers (kept secrets merged back in); every placeholder must be a field of the
    linked credential."""
    try:
        headers = header_codec.check(config.get("headers"))
    except header_codec.HeaderError as exc:
        raise _invalid("config.headers", str(exc)) from None
    if old_headers:
        headers = header_codec.merge(headers, old_headers)
    needed = header_codec.placeholders(headers)
    if not needed:
        return headers
    fields = _credential_fields(credential)
    if fields is None:
        raise _invalid("credential_id", "The headers use placeholders ("
                       + ", ".join(f"{{{{{n}}}}}" for n in sorted(needed))
                       + "): link a credential (credential_id) that holds them.")
    missing = sorted(needed - set(fields))
    if missing:
        raise _invalid("config.headers", f"The linked credential has no field {missing[0]!r}"
                       " (a JSON-object credential offers its fields; any credential "
                       "offers {{value}}).")
    return headers


def _clean_allowed_tools(allowed: Any) -> list[str]:
    if (not isinstance(allowed, list) or len(allowed) > MAX_ALLOWED_TOOLS
            or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in allowed)):
        raise _invalid("config.allowed_tools", "allowed_tools must be a list of the "
                       "server's tool names.")
    return list(dict.fromkeys(allowed))


def _clean_timeout(timeout: Any) -> float:
    if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_TIMEOUT):
        raise _invalid("config.timeout_seconds",
                       f"timeout_seconds must be a number in (0, {MAX_TIMEOUT:g}].")
    return timeout


def clean_config(config: Any, *, old_headers: dict[str, str] | None = None,
                 credential: Credential | None = None) -> CleanConfig:
    """A remote_mcp config checked (400 ``validation_error`` naming the field)."""
    if not isinstance(config, dict):
        raise _invalid("config", "config must be an object.")
    url = _clean_url(config)
    transport = _clean_transport(config)
    headers = _clean_headers(config, old_headers, credential)
    public: dict[str, Any] = {"url": url, "transport_type": transport,
                              "headers": header_codec.masked(headers)}
    if config.get("allowed_tools") is not None:
        public["allowed_tools"] = _clean_allowed_tools(config["allowed_tools"])
    if config.get("timeout_seconds") is not None:
        public["timeout_seconds"] = _clean_timeout(config["timeout_seconds"])
    return CleanConfig(public=public, headers=headers)


# --- writes ------------------------------------------------------------------------------


def _save_unique(tool: McpTool, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            tool.save(**kwargs)
    except IntegrityError:
        raise _invalid("name", "A tool with this name already exists in the workspace.") \
            from None


def mcp_tool_create(*, workspace: Workspace, name: str, type: str, config: Any = None,
                    credential_id: Any = None, description: str = "",
                    is_active: bool = True) -> McpTool:
    if type != REMOTE_MCP:
        raise _invalid("type", f"Only tools of type {REMOTE_MCP!r} can be created "
                       "(built-in tools are registered by the server).")
    credential = _credential(workspace, credential_id)
    clean = clean_config(config if config is not None else {}, credential=credential)
    tool = McpTool(workspace=workspace, name=name, type=REMOTE_MCP, description=description,
                   config=clean.public, is_active=is_active, credential=credential,
                   encrypted_headers=header_codec.encrypt(clean.headers), status="active")
    _save_unique(tool, force_insert=True)
    return tool


def mcp_tool_update(*, tool: McpTool, changes: dict[str, Any]) -> McpTool:
    fields: list[str] = []
    for key in ("name", "description", "is_active"):
        if key in changes:
            setattr(tool, key, changes[key])
            fields.append(key)
    if tool.type == REMOTE_MCP:
        credential = tool.credential
        if "credential_id" in changes:
            credential = _credential(tool.workspace, changes["credential_id"])
        if "config" in changes or "credential_id" in changes:
            old = header_codec.decrypt(tool.encrypted_headers)
            raw = changes["config"] if "config" in changes else {**tool.config, "headers": old}
            clean = clean_config(raw, old_headers=old, credential=credential)
            moved = (clean.public["url"] != tool.config.get("url")
                     or clean.public["transport_type"] != tool.config.get("transport_type"))
            tool.config = clean.public
            tool.encrypted_headers = header_codec.encrypt(clean.headers)
            tool.credential = credential
            tool.discovered_at = None  # stale: the next preparation discovers again
            fields += ["config", "encrypted_headers", "credential", "discovered_at"]
            if moved:
                tool.discovered_tools = []
                fields.append("discovered_tools")
    elif set(changes) & {"config", "credential_id"}:
        raise _invalid("type", "A built-in tool's config cannot be changed.")
    if fields:
        _save_unique(tool, update_fields=[*fields, "updated_at"])
    return tool


def mcp_tool_delete(*, tool: McpTool) -> None:
    tool.delete()


# --- discovery and calls -------------------------------------------------------------------


def server_ref(tool: McpTool) -> ServerRef:
    credential = tool.credential
    return ServerRef(tool_id=tool.pk, name=tool.name, url=str(tool.config.get("url", "")),
                     transport=str(tool.config.get("transport_type", "http")),
                     encrypted_headers=tool.encrypted_headers,
                     encrypted_credential=credential.encrypted_value if credential else "")


def _spec(tool: McpTool) -> ServerSpec:
    try:
        return server_ref(tool).spec()
    except header_codec.HeaderError as exc:
        raise _invalid("config.headers", str(exc)) from None


def _timeout(tool: McpTool) -> float:
    value = tool.config.get("timeout_seconds")
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_TIMEOUT


def _record_discovery(tool: McpTool, *, tools: list[dict[str, Any]] | None,
                      error: str | None) -> None:
    now = timezone.now()
    if error is None:
        changes: dict[str, Any] = {"discovered_tools": storable_value(tools),
                                   "discovered_at": now, "status": "active", "last_error": ""}
    else:
        changes = {"status": "error", "last_error": error}
    McpTool.objects.filter(pk=tool.pk).update(**changes, updated_at=now)
    for key, value in changes.items():
        setattr(tool, key, value)
    configuration_changed(tool)  # update() sends no signal


def new_trace_id() -> str:
    return secrets.token_hex(16)


def mcp_tool_discover(*, tool: McpTool, limit: float = DISCOVERY_TIMEOUT,
                      trace_id: str = "") -> list[dict[str, Any]]:
    """The tools the server offers now (stored on the row); 502 when it cannot tell."""
    if tool.type == BUILTIN:
        builtin = BUILTIN_TOOLS.get(str(tool.config.get("builtin") or tool.name))
        if builtin is None:
            return []
        return [{"name": builtin.name, "description": builtin.description,
                 "inputSchema": builtin.parameters}]
    if tool.type != REMOTE_MCP:
        raise _invalid("type", f"Tools of type {tool.type!r} cannot be discovered.")
    spec = _spec(tool)
    try:
        tools = async_to_sync(list_tools)(spec, limit=limit)
    except McpError as exc:
        logger.info("MCP discovery trace=%s tool=%s failed: %s", trace_id, tool.pk, exc)
        _record_discovery(tool, tools=None, error=str(exc))
        raise _upstream(f"Discovery failed: {exc}") from None
    logger.info("MCP discovery trace=%s tool=%s: %d tool(s)", trace_id, tool.pk, len(tools))
    _record_discovery(tool, tools=tools, error=None)
    return tool.discovered_tools  # type: ignore[no-any-return]


_refresh_backoff: dict[str, float] = {}
_backoff_lock = threading.Lock()
REFRESH_BACKOFF = 300.0


def discovery_for_run(tool: McpTool) -> list[dict[str, Any]]:
    """The stored discovery, refreshed first when missing or older than the TTL (a failed
    refresh keeps what was stored, and is not retried for REFRESH_BACKOFF seconds)."""
    fresh = (tool.discovered_at is not None and
             timezone.now() - tool.discovered_at < timedelta(seconds=discovery_ttl()))
    if fresh:
        return list(tool.discovered_tools or [])
    with _backoff_lock:
        if _refresh_backoff.get(tool.pk, 0.0) > time.monotonic():
            return list(tool.discovered_tools or [])
    try:
        return mcp_tool_discover(tool=tool)
    except DomainError as exc:
        logger.warning("MCP tool %s: discovery failed: %s", tool.pk, exc.message)
        with _backoff_lock:
            _refresh_backoff[tool.pk] = time.monotonic() + REFRESH_BACKOFF
        return list(tool.discovered_tools or [])


def _redacted(value: Any, spec: ServerSpec) -> Any:
    if isinstance(value, str):
        return spec.redact(value)
    if isinstance(value, list):
        return [_redacted(v, spec) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, spec) for k, v in value.items()}
    return value


def mcp_tool_call(*, tool: McpTool, tool_name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call one of the server's tools: ``{"content", "is_error", "trace_id"}``; 502 when the
    server cannot be reached or answers badly (a tool's own failure is ``is_error``)."""
    trace_id = new_trace_id()
    t0 = time.monotonic()
    if tool.type == BUILTIN:
        builtin = BUILTIN_TOOLS.get(str(tool.config.get("builtin") or tool.name))
        if builtin is None or tool_name != builtin.name:
            raise _invalid("tool_name", f"This tool has no tool named {tool_name!r}.")
        try:
            text, is_error = async_to_sync(builtin.run)(dict(arguments)), False
        except ToolError as exc:
            text, is_error = str(exc), True
        return {"content": [{"type": "text", "text": text}], "is_error": is_error,
                "trace_id": trace_id}
    if tool.type != REMOTE_MCP:
        raise _invalid("type", f"Tools of type {tool.type!r} cannot be called.")
    allowed = tool.config.get("allowed_tools")
    if isinstance(allowed, list) and tool_name not in allowed:
        raise _invalid("tool_name", f"{tool_name!r} is not in this tool's allowed_tools.")
    spec = _spec(tool)
    try:
        outcome = async_to_sync(call_tool)(spec, tool_name, arguments, limit=_timeout(tool))
    except McpError as exc:
        logger.info("MCP call trace=%s tool=%s name=%s failed after %d ms: %s", trace_id,
                    tool.pk, tool_name, int((time.monotonic() - t0) * 1000), exc)
        raise _upstream(f"The MCP call failed: {exc}") from None
    logger.info("MCP call trace=%s tool=%s name=%s is_error=%s in %d ms", trace_id, tool.pk,
                tool_name, outcome.is_error, int((time.monotonic() - t0) * 1000))
    return {"content": storable_value(_redacted(outcome.content, spec)),
            "is_error": outcome.is_error, "trace_id": trace_id}
