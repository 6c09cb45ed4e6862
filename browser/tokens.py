"""The two secrets of the browser chat API.

- The **access token**: a short-lived bearer (settings.BROWSER_TOKEN_SECONDS, 15 minutes)
  that a browser key is exchanged for, bound to the key, one agent and one origin. It is
  Django's signing (``signing.dumps``: a TimestampSigner over the SECRET_KEY, salted for
  this use), so it needs no table; what it names is checked again on every request (a
  revoked key, or an agent or origin taken off the key, ends its tokens at once).
- The **resume token**: a random secret (43 characters, 256 bits) that, with a bearer of
  the same key and origin, opens one session. Only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "promptrails.browser.access-token"


@dataclass(frozen=True)
class AccessClaims:
    key_id: str
    agent_id: str
    origin: str


class TokenExpired(Exception):  # noqa: N818 - a reason, raised to be mapped to a 401
    pass


class TokenInvalid(Exception):  # noqa: N818
    pass


def access_token_issue(claims: AccessClaims) -> str:
    return signing.dumps({"k": claims.key_id, "a": claims.agent_id, "o": claims.origin},
                         salt=SALT)


def access_token_read(token: str, *, max_age: int | None = None) -> AccessClaims:
    """The claims of a valid, unexpired token; TokenExpired / TokenInvalid otherwise."""
    try:
        payload = signing.loads(token, salt=SALT,
                                max_age=settings.BROWSER_TOKEN_SECONDS if max_age is None
                                else max_age)
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        raise TokenInvalid from None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(name), str) for name in ("k", "a", "o")
    ):
        raise TokenInvalid
    return AccessClaims(key_id=payload["k"], agent_id=payload["a"], origin=payload["o"])


def resume_token_new() -> tuple[str, str]:
    """A new resume token and the hash that is stored."""
    raw = secrets.token_urlsafe(32)
    return raw, resume_token_hash(raw)


def resume_token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
