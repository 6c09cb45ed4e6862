"""The exact origins a browser key may be used from: HTTPS, or plain HTTP on the loopback
host names for development. One spelling per origin (the one browsers send)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from promptrails.errors import InvalidInput

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
DEFAULT_PORTS = {"https": 443, "http": 80}


def clean_origin(raw: Any, field: str = "origins") -> str:
    """`scheme://host[:port]` as a browser's Origin header spells it; a 400 otherwise."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput({field: ["An origin must be a non-empty string."]})
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput({field: [f"{text!r} is not an origin."]}) from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host or parts.username or parts.password \
            or parts.path not in ("", "/") or parts.query or parts.fragment or "*" in host:
        raise InvalidInput({field: [
            f"{text!r} is not an exact origin: scheme://host[:port], no path, no wildcard."]})
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise InvalidInput({field: [
            f"{text!r}: only HTTPS origins (plain HTTP only for localhost, 127.0.0.1)."]})
    if port is not None and port != DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def clean_origins(values: Any, field: str = "origins") -> list[str]:
    if not isinstance(values, list | tuple) or not values:
        raise InvalidInput({field: ["At least one origin is required."]})
    cleaned: list[str] = []
    for value in values:
        origin = clean_origin(value, field)
        if origin not in cleaned:
            cleaned.append(origin)
    return cleaned
