"""Workspace scoping for the admin, written once and mixed into every ModelAdmin.

A superuser sees everything. Any other staff user sees, edits, deletes, filters, searches
and autocompletes only objects of the workspaces they hold a Membership in: the rows come
from `get_queryset` (which changelists, detail pages, actions and autocomplete all go
through), foreign-key choices are limited the same way, and the object permissions check
the object's workspace. An object of another workspace is simply not in the queryset, so
its detail page redirects to the index with "doesn't exist" and never renders.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from promptrails.models import Membership, Workspace

_CACHE_ATTR = "_admin_workspace_ids"


def member_workspace_ids(request: HttpRequest) -> list[str]:
    """The ids of the workspaces the request's user belongs to (cached on the request)."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        user_pk = request.user.pk
        cached = [] if user_pk is None else list(
            Membership.objects.filter(user_id=user_pk).values_list(
                "workspace_id", flat=True
            )
        )
        setattr(request, _CACHE_ATTR, cached)
    return cached


def is_unscoped(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


def workspace_path(model: type[models.Model], depth: int = 2) -> str | None:
    """The lookup path from `model` to its Workspace ("pk" for Workspace itself).

    A model with a `workspace` foreign key → "workspace"; one reaching it through a
    non-null-ish parent (AgentVersion → agent → workspace) → "agent__workspace".
    None for models that belong to no workspace (the global LLM registry, users).
    """
    if model is Workspace:
        return "pk"
    fields = {f.name: f for f in model._meta.get_fields()}
    workspace_field = fields.get("workspace")
    if isinstance(workspace_field, models.ForeignKey):
        return "workspace"
    if depth <= 0:
        return None
    for field in model._meta.get_fields():
        related = field.related_model if isinstance(field, models.ForeignKey) else None
        if related is model or not (isinstance(related, type)
                                    and issubclass(related, models.Model)):
            continue
        inner = workspace_path(related, depth - 1)
        if inner is not None:
            return f"{field.name}__{inner}"
    return None


def scope_queryset(qs: QuerySet[Any], request: HttpRequest) -> QuerySet[Any]:
    """`qs` limited to the user's workspaces (unchanged for a superuser)."""
    if is_unscoped(request):
        return qs
    path = workspace_path(qs.model)
    if path is None:
        return qs
    key = "pk__in" if path == "pk" else f"{path}_id__in" if path.endswith("workspace") else (
        f"{path}__in"
    )
    return qs.filter(**{key: member_workspace_ids(request)})


def object_in_scope(obj: models.Model | None, request: HttpRequest) -> bool:
    if obj is None or is_unscoped(request):
        return True
    path = workspace_path(type(obj))
    if path is None:
        return True
    if path == "pk":
        return obj.pk in member_workspace_ids(request)
    value: Any = obj
    for part in path.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return False
    return bool(value.pk in member_workspace_ids(request))


class WorkspaceScopedMixin:
    """Scopes rows, FK choices and object permissions; use with ModelAdmin or inlines."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope_queryset(super().get_queryset(request), request)  # type: ignore[misc]

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        related = db_field.related_model
        if "queryset" not in kwargs and isinstance(related, type) and not is_unscoped(request):
            if workspace_path(related) is not None:
                kwargs["queryset"] = scope_queryset(
                    related._default_manager.all(), request  # type: ignore[union-attr]
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class WorkspaceScopedAdmin(WorkspaceScopedMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A ModelAdmin whose user sees only the objects of the workspaces they belong to."""

    show_full_result_count = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and object_in_scope(obj, request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and object_in_scope(obj, request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and object_in_scope(obj, request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if not super().has_add_permission(request):
            return False
        return is_unscoped(request) or bool(member_workspace_ids(request))
