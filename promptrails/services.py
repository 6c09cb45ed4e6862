"""Tenancy writes."""

from __future__ import annotations

import functools

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from promptrails.models import ApiKey, Workspace

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
