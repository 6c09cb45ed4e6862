"""Admin: API keys gain the browser kind (agents, origins, rate limit; the key shown once),
and staff see which sessions were started from web pages, from where, by which visitor.

The API key admin of promptrails is extended here, not edited there: tenancy knows nothing
of agents or of this app."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from agents.models import Agent
from browser.models import BrowserSession
from browser.origins import clean_origins
from browser.services import browser_key_create
from promptrails import admin as tenancy_admin
from promptrails.admin_filters import ScopedRelatedFilter
from promptrails.admin_scoping import WorkspaceScopedAdmin, scope_queryset
from promptrails.errors import DomainError
from promptrails.models import ApiKey


class ApiKeyAddForm(forms.ModelForm):  # type: ignore[type-arg]
    agents = forms.ModelMultipleChoiceField(
        queryset=Agent.objects.none(), required=False,
        help_text="Browser keys: the agents a page may chat with (of the chosen workspace).")
    origins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False,
        help_text="Browser keys: exact origins, one per line, e.g. https://shop.example "
                  "(HTTPS; http://localhost and http://127.0.0.1 for development).")

    class Meta:
        model = ApiKey
        fields = ["workspace", "name", "kind", "rate_limit_per_minute"]
        help_texts = {"rate_limit_per_minute": "Browser keys: requests per minute per "
                                               "visitor address (empty: the server default)."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].required = False  # a workspace key unless browser is chosen

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or ApiKey.Kind.WORKSPACE

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") != ApiKey.Kind.BROWSER:
            return data
        workspace = data.get("workspace")
        agents = data.get("agents") or []
        if not agents:
            self.add_error("agents", "A browser key needs at least one agent.")
        elif workspace is not None and any(a.workspace_id != workspace.pk for a in agents):
            self.add_error("agents", "Choose agents of the key's workspace.")
        try:
            data["origins"] = clean_origins(
                [line for line in (data.get("origins") or "").splitlines() if line.strip()])
        except DomainError as exc:
            self.add_error("origins", "; ".join(m for ms in exc.details.values() for m in ms))
        return data


admin.site.unregister(ApiKey)


@admin.register(ApiKey)
class ApiKeyAdmin(tenancy_admin.ApiKeyAdmin):
    list_display = ("name", "kind", "prefix_display", "workspace",  # type: ignore[assignment]
                    "created_at", "last_used_at", "revoked_at")
    list_filter = (("workspace", ScopedRelatedFilter), "kind",  # type: ignore[assignment]
                   ("revoked_at", admin.EmptyFieldListFilter))
    fields = ("workspace", "name", "kind", "prefix_display",  # type: ignore[assignment]
              "allowed_agent_ids", "allowed_origins", "rate_limit_per_minute", "created_at",
              "last_used_at", "revoked_at")
    readonly_fields = ("prefix_display", "kind", "allowed_agent_ids",  # type: ignore[assignment]
                       "allowed_origins", "created_at", "last_used_at", "revoked_at")
    add_fields = ["workspace", "name", "kind", "agents", "origins", "rate_limit_per_minute"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        kwargs["form"] = ApiKeyAddForm
        kwargs["fields"] = ["workspace", "name", "kind", "rate_limit_per_minute"]
        form = super(tenancy_admin.ApiKeyAdmin, self).get_form(request, obj, change=change,
                                                               **kwargs)
        form.base_fields["agents"].queryset = scope_queryset(  # type: ignore[attr-defined]
            Agent.objects.select_related("workspace").order_by("workspace__name", "name"),
            request)
        return form

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return list(self.add_fields) if obj is None else list(self.fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change or data.get("kind") != ApiKey.Kind.BROWSER:
            super().save_model(request, obj, form, change)
            return
        key, raw = browser_key_create(
            workspace=data["workspace"], name=data["name"],
            agent_ids=[agent.pk for agent in data["agents"]], origins=data["origins"],
            rate_limit_per_minute=data.get("rate_limit_per_minute"))
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = (key.pk, key.prefix, key.key_hash,
                                                            key.created_at)
        # The only time the plaintext exists outside the page that embeds it.
        self.message_user(
            request,
            f"The new browser key (copy it now; it is not stored and will not be shown "
            f"again): {raw}", messages.WARNING)


@admin.register(BrowserSession)
class BrowserSessionAdmin(WorkspaceScopedAdmin):
    list_display = ("session_link", "origin", "visitor_id", "api_key", "created_at",
                    "revoked_at")
    list_select_related = ("session", "api_key")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("=session__id", "=visitor_id", "origin")
    fields = ("session_link", "api_key", "origin", "visitor_id", "created_at", "revoked_at")
    readonly_fields = fields

    @admin.display(description="session")
    def session_link(self, obj: BrowserSession) -> str:
        url = reverse("admin:chat_session_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, obj.session)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
