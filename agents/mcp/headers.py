"""An MCP server's request headers: stored encrypted, shown masked, secrets filled late.

A header value may hold ``{{placeholders}}`` naming fields of the tool's linked
credential: ``{{value}}`` is the credential's whole secret; a credential whose value is a
JSON object also offers each of its fields (``{"token": "…"}`` → ``{{token}}``). They are
filled only when a request is made (:func:`fill`), so the secret is never in the tool's
row, its API payload, a log or a trace.

The headers as written are stored encrypted (literal values may be secrets too). What the
API shows (:func:`masked`): a value with placeholders as written (the template holds no
secret), any other value masked like a credential (first 4 + ``...`` + last 4). A masked
value sent back unchanged on update keeps the stored one (:func:`merge`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from agents.crypto import decrypt_value, encrypt_value, mask_secret

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
MAX_HEADERS = 30
MAX_VALUE_CHARS = 8000
# set by the MCP transport itself; a workspace may not override them
RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection",
                      "mcp-session-id", "mcp-protocol-version", "accept", "content-type",
                      "upgrade", "te", "trailer", "keep-alive", "proxy-authorization"})


class HeaderError(ValueError):
    """A header that cannot be used; the message names no secret."""


def check(headers: Any) -> dict[str, str]:
    """``headers`` as a dict of valid names to single-line string values, else HeaderError."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise HeaderError("headers must be an object of header names to string values.")
    if len(headers) > MAX_HEADERS:
        raise HeaderError(f"At most {MAX_HEADERS} headers.")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            raise HeaderError(f"{str(name)[:100]!r} is not a valid header name.")
        if name.lower() in RESERVED:
            raise HeaderError(f"The header {name!r} is set by the MCP transport.")
        if not isinstance(value, str):
            raise HeaderError(f"The value of {name!r} must be a string.")
        if len(value) > MAX_VALUE_CHARS or any(ch in value for ch in "\r\n\0"):
            raise HeaderError(f"The value of {name!r} must be one line of at most "
                              f"{MAX_VALUE_CHARS} characters.")
        out[name] = value
    return out


def placeholders(headers: dict[str, str]) -> set[str]:
    return {m.group(1) for value in headers.values() for m in PLACEHOLDER.finditer(value)}


def masked(headers: dict[str, str]) -> dict[str, str]:
    return {name: value if PLACEHOLDER.search(value) else mask_secret(value)
            for name, value in headers.items()}


def merge(new: dict[str, str], old: dict[str, str]) -> dict[str, str]:
    """New headers where a value equal to the old one's mask keeps the old value."""
    old_masks = masked(old)
    return {name: old[name] if name in old and value == old_masks[name] and value != old[name]
            else value for name, value in new.items()}


def encrypt(headers: dict[str, str]) -> str:
    return encrypt_value(json.dumps(headers)) if headers else ""


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    value = json.loads(decrypt_value(token))
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def secret_fields(secret: str) -> dict[str, str]:
    """The fields a credential's decrypted value offers to placeholders."""
    fields = {"value": secret}
    stripped = secret.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return fields
        if isinstance(parsed, dict):
            fields.update({str(k): v if isinstance(v, str) else json.dumps(v)
                           for k, v in parsed.items()
                           if isinstance(v, str | int | float) and not isinstance(v, bool)})
    return fields


def fill(headers: dict[str, str], fields: dict[str, str] | None) -> dict[str, str]:
    """Headers with every placeholder replaced; HeaderError names a missing field (never a
    value)."""
    fields = fields or {}

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in fields:
            raise HeaderError(f"The header placeholder {{{{{key}}}}} has no value: link a "
                              f"credential that has the field {key!r}.")
        value = fields[key]
        if any(ch in value for ch in "\r\n\0"):
            raise HeaderError(f"The credential field {key!r} cannot go into a header.")
        return value

    return {name: PLACEHOLDER.sub(one, value) for name, value in headers.items()}
