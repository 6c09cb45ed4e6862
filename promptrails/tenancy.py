"""Resolving the workspace of a request, and scoping every queryset to it (written once)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.utils import timezone

from promptrails.errors import NotFound
from promptrails.models import ApiKey, Membership, Workspace, hash_api_key

M = TypeVar("M", bound=Model)
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class WorkspaceAuth:
    """What authentication resolved: the workspace, and the key or user behind it."""

    workspace: Workspace
    api_key: ApiKey | None = None
    user: Any = None


class AuthFailed(Exception):
    """Raised with a human message when credentials are present but wrong."""


def scoped(queryset: QuerySet[M], workspace: Workspace, field: str = "workspace") -> QuerySet[M]:
    """The one place that narrows a queryset to a workspace."""
    return queryset.filter(**{field: workspace})


def scoped_get(queryset: QuerySet[M], workspace: Workspace, pk: object, kind: str) -> M:
    """The workspace's object `pk` of `queryset`, else 404 `NotFound(kind)`: one answer for
    "does not exist" and "belongs to another workspace"."""
    found = scoped(queryset, workspace).filter(pk=pk).first()
    if found is None:
        raise NotFound(kind)
    return found


def workspace_from_api_key(raw: str) -> WorkspaceAuth:
    if not raw.startswith("pr_"):
        raise AuthFailed("Invalid API key.")
    digest = hash_api_key(raw)
    try:  # get(), not first(): the hash is unique, no ORDER BY to compile per request
        key: ApiKey | None = ApiKey.objects.select_related("workspace").get(key_hash=digest)
    except ApiKey.DoesNotExist:
        key = None
    # the lookup is by a SHA-256 of the key; compare in constant time all the same
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        raise AuthFailed("Invalid API key.")
    if key.revoked_at is not None:
        raise AuthFailed("This API key has been revoked.")
    if key.kind == ApiKey.Kind.BROWSER:  # public: only for the browser chat API (browser/)
        raise AuthFailed("A browser key opens only POST /api/v1/browser/chat/token.")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return WorkspaceAuth(workspace=key.workspace, api_key=key)


def workspace_from_user(user: Any, requested_id: str | None) -> WorkspaceAuth:
    memberships = Membership.objects.select_related("workspace").filter(user=user)
    if requested_id:
        membership = memberships.filter(workspace_id=requested_id).first()
        if membership is None:
            raise AuthFailed("You are not a member of that workspace.")
        return WorkspaceAuth(workspace=membership.workspace, user=user)
    membership = memberships.order_by("created_at").first()
    if membership is None:
        raise AuthFailed("Your account is not a member of any workspace.")
    return WorkspaceAuth(workspace=membership.workspace, user=user)
