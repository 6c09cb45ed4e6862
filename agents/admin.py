"""Admin for agents, prompts, the LLM model registry, credentials and built-in tools."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError as DrfValidationError

from agents.credential_values import check_credential_value
from agents.models import (
    Agent,
    AgentVersion,
    AgentVersionTool,
    Credential,
    LLMModel,
    McpTool,
    Memory,
    Prompt,
    PromptVersion,
)
from agents.services import credential_create, credential_update
from promptrails.admin_filters import ScopedRelatedFilter
from promptrails.admin_scoping import WorkspaceScopedAdmin, WorkspaceScopedMixin, is_unscoped
from promptrails.outbound import OutboundRefused, check_url


class AgentVersionInline(WorkspaceScopedMixin, admin.TabularInline):  # type: ignore[type-arg]
    """Versions are written through the API (which keeps exactly one current); shown here."""

    model = AgentVersion
    fields = ("version", "is_current", "message", "model_config", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(WorkspaceScopedAdmin):
    list_display = ("name", "workspace", "type", "status", "created_at")
    list_select_related = ("workspace",)
    list_filter = (("workspace", ScopedRelatedFilter), "type", "status")
    search_fields = ("name", "description")
    inlines = (AgentVersionInline,)


class AgentVersionToolInline(WorkspaceScopedMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = AgentVersionTool
    extra = 0
    autocomplete_fields = ("tool",)


class PromptVersionInline(WorkspaceScopedMixin, admin.StackedInline):  # type: ignore[type-arg]
    model = PromptVersion
    fields = ("version", "is_current", "system_prompt", "user_prompt", "message", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Prompt)
class PromptAdmin(WorkspaceScopedAdmin):
    list_display = ("name", "workspace", "status", "created_at")
    list_select_related = ("workspace",)
    list_filter = (("workspace", ScopedRelatedFilter), "status")
    search_fields = ("name", "description")
    inlines = (PromptVersionInline,)


class LLMModelForm(forms.ModelForm):  # type: ignore[type-arg]
    # checked by the outbound policy below, as written (no scheme assumed)
    base_url = forms.CharField(required=False, max_length=200, strip=True,
                               help_text="e.g. an Ollama server: http://localhost:11434/v1 "
                                         "(allowed by the operator: PROMPTRAILS_OUTBOUND_ALLOW)")

    class Meta:
        model = LLMModel
        fields = ["provider", "model_id", "display_name", "base_url", "input_price",
                  "output_price", "cached_input_price", "max_tokens", "max_output_tokens",
                  "supports_tools", "supports_streaming", "supports_vision",
                  "supports_reasoning", "is_active", "is_deprecated"]

    def clean_base_url(self) -> str:
        """The outbound policy, now (it applies again at every connection)."""
        url = str(self.cleaned_data.get("base_url") or "")
        if url:
            try:
                check_url(url)
            except OutboundRefused as exc:
                raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The global registry (no workspace): e.g. an Ollama model is provider "openai" with
    the server's base_url (http://localhost:11434/v1, allowed by the operator with
    PROMPTRAILS_OUTBOUND_ALLOW).

    Shared by every workspace, so only superusers add, change or delete models; staff of a
    workspace may view them. A model's base_url never receives a credential's key unless
    that credential names the same URL, nor the environment's (agents.preparation)."""

    form = LLMModelForm
    list_display = ("display_name", "provider", "model_id", "base_url", "input_price",
                    "output_price", "max_tokens", "is_active")
    list_filter = ("provider", "is_active", "is_deprecated")
    search_fields = ("model_id", "display_name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_unscoped(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_unscoped(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_unscoped(request) and super().has_delete_permission(request, obj)


class CredentialForm(forms.ModelForm):  # type: ignore[type-arg]
    """The value is write-only: typed in a password field, encrypted on save, never shown."""

    value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. An API key, or for OpenAI-compatible servers a JSON object "
                  '{"api_key": "...", "base_url": "http://..."}. Leave empty to keep the '
                  "current value.",
    )

    class Meta:
        model = Credential
        fields = ["workspace", "name", "type", "category", "description", "is_default"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        value = cleaned.get("value") or ""
        if self.instance._state.adding and not value:
            self.add_error("value", "A value is required.")
        elif value:
            try:
                check_credential_value(cleaned.get("type") or self.instance.type, value)
            except DrfValidationError as exc:
                detail = exc.detail
                messages = detail.get("value", detail) if isinstance(detail, dict) else detail
                self.add_error("value", [str(m) for m in messages])  # type: ignore[union-attr]
        return cleaned


@admin.register(Credential)
class CredentialAdmin(WorkspaceScopedAdmin):
    form = CredentialForm
    list_display = ("name", "workspace", "type", "category", "masked_content", "is_default",
                    "is_valid", "created_at")
    list_select_related = ("workspace",)
    list_filter = (("workspace", ScopedRelatedFilter), "type", "is_default")
    search_fields = ("name", "type")
    readonly_fields = ("masked_content", "is_valid", "last_checked_at", "created_at",
                       "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:  # the workspace and type of a stored credential stay
            return (*self.readonly_fields, "workspace", "type")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Credential, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            created = credential_create(
                workspace=data["workspace"], name=data["name"], type=data["type"],
                value=data["value"], category=data.get("category") or "llm",
                description=data.get("description") or "",
                is_default=bool(data.get("is_default")),
            )
            form.instance = created
            obj.pk = created.pk
            return
        changes: dict[str, Any] = {
            key: data[key] for key in ("name", "category", "description", "is_default")
            if key in data
        }
        if data.get("value"):
            changes["value"] = data["value"]
        credential_update(credential=Credential.objects.get(pk=obj.pk), changes=changes)


@admin.register(McpTool)
class McpToolAdmin(WorkspaceScopedAdmin):
    """Built-in tools and MCP servers. A server's URL, headers and credential link are set
    through the API (checked by the outbound policy; headers stored encrypted and shown
    masked, never the credential's value); here: its status, last error, the tools it
    offered at the last discovery, and a discover action."""

    list_display = ("name", "workspace", "type", "is_active", "status", "discovered_at")
    list_select_related = ("workspace",)
    list_filter = (("workspace", ScopedRelatedFilter), "type", "is_active", "status")
    search_fields = ("name", "description")
    fields = ("workspace", "name", "type", "description", "is_active", "status", "config",
              "credential", "last_error", "discovered_at", "discovered_tool_list")
    readonly_fields = ("workspace", "type", "status", "config", "credential", "last_error",
                       "discovered_at", "discovered_tool_list")
    actions = ("discover_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the API (POST /api/v1/mcp-tools)

    @admin.display(description="Discovered tools")
    def discovered_tool_list(self, obj: McpTool) -> str:
        return "\n".join(f"{t.get('name')}: {t.get('description', '')}"[:300]
                         for t in obj.discovered_tools or []) or "—"

    @admin.action(description="Discover the selected MCP servers' tools now")
    def discover_now(self, request: HttpRequest, queryset: Any) -> None:
        from agents.mcp.services import REMOTE_MCP, mcp_tool_discover
        from promptrails.errors import DomainError

        for tool in queryset.filter(type=REMOTE_MCP).select_related("credential"):
            try:
                found = mcp_tool_discover(tool=tool)
            except DomainError as exc:
                self.message_user(request, f"{tool.name}: {exc.message}", level="error")
            else:
                self.message_user(request, f"{tool.name}: {len(found)} tool(s) discovered.")


@admin.register(AgentVersion)
class AgentVersionAdmin(WorkspaceScopedAdmin):
    """Reached from an agent's page: a version with its attached tools."""

    list_display = ("__str__", "agent", "is_current", "created_at")
    list_select_related = ("agent",)
    search_fields = ("agent__name", "version")
    readonly_fields = ("agent", "version", "is_current", "created_at")
    fields = ("agent", "version", "is_current", "message", "config", "model_config",
              "run_budget", "created_at")
    inlines = (AgentVersionToolInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False  # not listed on the index; reached through agents


@admin.register(Memory)
class MemoryAdmin(WorkspaceScopedAdmin):
    """What agents keep across sessions. Written by the agents (remember tool) and the API;
    here: read, correct or delete (a user's memories: search or filter by subject)."""

    list_display = ("short_content", "agent", "subject", "memory_type", "importance",
                    "access_count", "created_at")
    list_select_related = ("agent",)
    list_filter = (("workspace", ScopedRelatedFilter), ("agent", ScopedRelatedFilter),
                   "memory_type")
    search_fields = ("content", "subject")
    search_help_text = "Searches the content and the subject (substring)."
    fields = ("workspace", "agent", "subject", "memory_type", "importance", "content",
              "access_count", "last_accessed_at", "session_id", "created_at", "updated_at")
    readonly_fields = ("workspace", "agent", "access_count", "last_accessed_at", "session_id",
                       "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # memories come from the agents and the API

    @admin.display(description="content")
    def short_content(self, obj: Memory) -> str:
        return obj.content if len(obj.content) <= 80 else f"{obj.content[:79]}…"
