"""Tenancy writes."""

from __future__ import annotations

from django.db.models import F, QuerySet

from promptrails.models import ApiKey, Workspace


def workspace_get_or_create(*, name: str) -> tuple[Workspace, bool]:
    return Workspace.objects.get_or_create(name=name)


def api_key_create(*, workspace: Workspace, name: str = "default") -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never stored."""
    raw, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(workspace=workspace, name=name, prefix=prefix, key_hash=digest)
    return key, raw


def workspace_config_bump(workspaces: QuerySet[Workspace]) -> None:
    """Agent configuration of these workspaces changed: cached prepared agents are stale."""
    workspaces.update(config_revision=F("config_revision") + 1)
