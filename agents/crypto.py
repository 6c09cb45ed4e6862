"""Credential values encrypted at rest (Fernet), and the masks shown instead of them."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class DecryptionError(Exception):
    """The stored value cannot be decrypted (the key changed or the row was tampered with)."""


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(b"promptrails-credentials:" + secret.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _current() -> Fernet:
    secret = getattr(settings, "CREDENTIALS_KEY", "") or settings.SECRET_KEY
    return _fernet(secret)


def encrypt_value(value: str) -> str:
    return _current().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_value(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("The credential cannot be decrypted with the current key.") from exc


def mask_secret(secret: str) -> str:
    """First 4 + "..." + last 4; values too short to hide that way are fully masked."""
    if len(secret) <= 12:
        return "*" * min(len(secret), 8) or "****"
    return f"{secret[:4]}...{secret[-4:]}"


def split_value(value: str) -> tuple[str, str | None]:
    """(api_key, base_url): a JSON object string {"api_key", "base_url"} or a plain key."""
    stripped = value.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return value, None
        if isinstance(parsed, dict):
            api_key = parsed.get("api_key")
            base_url = parsed.get("base_url")
            return (
                api_key if isinstance(api_key, str) else "",
                base_url if isinstance(base_url, str) and base_url else None,
            )
    return value, None


def mask_url(url: str) -> str:
    """Only a URL's scheme, host and port: never a user name, password, path, query or
    fragment (any of which may carry a secret)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    if not host:
        return "(invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower() if parts.scheme.lower() in ("http", "https") else "?"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def mask_value(value: str) -> str:
    api_key, base_url = split_value(value)
    masked = mask_secret(api_key) if api_key else ""
    if base_url:
        return f"{masked} @ {mask_url(base_url)}"[:64]
    return masked
