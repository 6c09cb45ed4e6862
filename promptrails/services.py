"""Tenancy writes."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from promptrails.models import ApiKey, Membership, Workspace

API_KEY_REVOKED = "api_key_revoked"


def workspace_get_or_create(*, name: str) -> tuple[Workspace, bool]:
    return Workspace.objects.get_or_create(name=name)


def api_key_create(*, workspace: Workspace, name: str = "default") -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never stored."""
    raw, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(workspace=workspace, name=name, prefix=prefix, key_hash=digest)
    return key, raw


def api_key_group(key_id: str) -> str:
    """The event-bus group of the WebSocket clients a key authenticated (chat.consumers)."""
    return f"apikey.{key_id}"


def api_key_revoke(*, keys: QuerySet[ApiKey]) -> int:
    """Revoke those of `keys` not revoked yet; returns how many. From then on requests with
    them are 401, WebSocket tickets issued under them are refused, and the sockets they
    opened are closed (4401): once the revocation is committed, each key's bus group is
    told, in every process."""
    with transaction.atomic():
        ids = list(keys.filter(revoked_at__isnull=True).values_list("pk", flat=True))
        ApiKey.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
        transaction.on_commit(functools.partial(_announce_revoked, ids))
    return len(ids)


def _announce_revoked(ids: list[str]) -> None:
    from executions import bus  # the bus depends on this app's settings, not the reverse

    for key_id in ids:
        bus.publish_from_thread(api_key_group(key_id),
                                {"type": API_KEY_REVOKED, "api_key_id": key_id})


def workspace_config_bump(workspaces: QuerySet[Workspace]) -> None:
    """Agent configuration of these workspaces changed: cached prepared agents are stale."""
    workspaces.update(config_revision=F("config_revision") + 1)


# --- one-time sign-in links (bootstrap prints one for the demo user) ----------------------
SIGNIN_LINK_SALT = "promptrails.signin-link"
DEMO_USERNAME = "demo"


def demo_user_ensure(*, workspace: Workspace) -> Any:
    """The demo user (no password: it signs in with a one-time link), an admin member of
    `workspace`."""
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(user=user, workspace=workspace,
                                     defaults={"role": Membership.Role.ADMIN})
    return user


def _last_login_stamp(last_login: datetime | None) -> str:
    return last_login.isoformat() if last_login is not None else ""


def signin_link_token(*, user: Any, lifetime: timedelta) -> str:
    """A signed token that signs `user` in once, within `lifetime`: it names the user's
    last sign-in, which redeeming it moves (so it, and every older link, then stops working)."""
    expires = int((timezone.now() + lifetime).timestamp())
    return signing.dumps({"u": user.pk, "l": _last_login_stamp(user.last_login), "e": expires},
                         salt=SIGNIN_LINK_SALT)


def signin_link_redeem(*, token: str) -> Any | None:
    """The user a valid, unexpired, unused sign-in link names, or None. A conditional UPDATE
    of the user's last sign-in makes it single-use: of two redeems at once, one wins."""
    from django.contrib.auth import get_user_model

    try:
        claim = signing.loads(token, salt=SIGNIN_LINK_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(claim, dict) or not isinstance(claim.get("e"), int) \
            or claim["e"] < timezone.now().timestamp() or not isinstance(claim.get("u"), int | str):
        return None
    users = get_user_model().objects.filter(pk=claim["u"], is_active=True)
    user = users.first()
    if user is None or claim.get("l") != _last_login_stamp(user.last_login):
        return None
    won = users.filter(last_login=user.last_login) if user.last_login is not None \
        else users.filter(last_login__isnull=True)
    if not won.update(last_login=timezone.now()):
        return None
    user.refresh_from_db(fields=["last_login"])
    return user
