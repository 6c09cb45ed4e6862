"""Admin for workspaces, memberships and API keys (the plaintext key is shown once)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from promptrails.admin_filters import ScopedRelatedFilter
from promptrails.admin_scoping import (
    WorkspaceScopedAdmin,
    is_unscoped,
    member_workspace_ids,
)
from promptrails.models import ApiKey, Membership, Workspace
from promptrails.services import api_key_create, api_key_revoke


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    list_display = ("name", "id", "rate_limit_per_minute", "max_concurrent_turns", "created_at")
    search_fields = ("name", "=id")
    readonly_fields = ("id", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new workspace has no members yet: only a superuser may create one.
        return is_unscoped(request) and super().has_add_permission(request)


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    list_display = ("user", "workspace", "role", "created_at")
    list_select_related = ("user", "workspace")
    list_filter = (("workspace", ScopedRelatedFilter), "role")
    search_fields = ("user__username", "user__email", "workspace__name")
    autocomplete_fields = ()

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest,
                                 **kwargs: Any) -> Any:
        if db_field.name == "user" and not is_unscoped(request):
            # Only people already sharing a workspace with this staff user are offered.
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = get_user_model()._default_manager.filter(
                memberships__workspace_id__in=member_workspace_ids(request)
            ).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ApiKeyAddForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ApiKey
        fields = ["workspace", "name"]


@admin.register(ApiKey)
class ApiKeyAdmin(WorkspaceScopedAdmin):
    list_display = ("name", "prefix_display", "workspace", "created_at", "last_used_at",
                    "revoked_at")
    list_select_related = ("workspace",)
    list_filter = (("workspace", ScopedRelatedFilter), ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    fields = ("workspace", "name", "prefix_display", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix_display", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    @admin.display(description="key")
    def prefix_display(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…" if obj.prefix else "(shown after saving)"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
            kwargs["fields"] = ["workspace", "name"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["workspace", "name"] if obj is None else list(self.fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return (*self.readonly_fields, "workspace")

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = api_key_create(workspace=form.cleaned_data["workspace"],
                                  name=form.cleaned_data["name"])
        obj.pk = key.pk
        obj.prefix = key.prefix
        obj.key_hash = key.key_hash
        obj.created_at = key.created_at
        # The only time the plaintext exists outside the client: this one message.
        self.message_user(
            request,
            f"The new API key (copy it now; it is not stored and will not be shown again): {raw}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = api_key_revoke(keys=queryset)
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
