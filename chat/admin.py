"""The session admin: find conversations fast, read them, see what each turn cost."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from chat.admin_export import export_response
from chat.admin_filters import MetadataFilter, ThumbsDownFilter
from chat.admin_search import session_search
from chat.models import Feedback, Message, Session
from promptrails.admin_filters import DateRangeFilter, ScopedRelatedFilter
from promptrails.admin_scoping import WorkspaceScopedAdmin

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows (a LIMITed subquery), so a page of a huge, filtered
    result set never pays for a full COUNT; past the cap the last pages are not linked."""

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        qs = self.object_list
        if isinstance(qs, QuerySet):
            return int(qs.order_by().values("pk")[:COUNT_CAP].count())
        return len(qs)


class PrettyJSONField(forms.JSONField):
    """A JSON textarea, pretty-printed; the session's metadata must be an object."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


class SessionForm(forms.ModelForm):  # type: ignore[type-arg]
    metadata = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "vLargeTextField"}),
        help_text="A JSON object.",
    )

    class Meta:
        model = Session
        fields = ["title", "metadata"]

    def clean_metadata(self) -> dict[str, Any]:
        value = self.cleaned_data.get("metadata")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Metadata must be a JSON object, like {"channel": "web"}.')
        size = len(json.dumps(value, separators=(",", ":")).encode())
        if size > settings.METADATA_MAX_BYTES:
            raise forms.ValidationError(
                f"Metadata must be at most {settings.METADATA_MAX_BYTES} bytes of JSON."
            )
        return value


class SessionChangeList(ChangeList):
    """Ties of a one-column sort are broken by id in the sort's own direction (Django
    always appends "-pk"), so one (column, id) index serves both directions."""

    def _get_deterministic_ordering(self, ordering: list[Any]) -> list[Any]:
        ordering = super()._get_deterministic_ordering(ordering)  # type: ignore[misc]
        if (len(ordering) == 2 and ordering[1] == "-pk" and isinstance(ordering[0], str)
                and not ordering[0].startswith("-")):
            ordering[1] = "pk"
        return ordering


@admin.register(Session)
class SessionAdmin(WorkspaceScopedAdmin):
    form = SessionForm
    list_display = ("title_or_id", "agent", "workspace", "external_user", "message_total",
                    "last_activity", "tokens", "cost")
    list_select_related = ("agent", "workspace")
    list_filter = (
        ("workspace", ScopedRelatedFilter),
        ("agent", ScopedRelatedFilter),
        ("created_at", DateRangeFilter),
        ("updated_at", DateRangeFilter),
        ThumbsDownFilter,
        MetadataFilter,
    )
    search_fields = ("title",)  # shows the search box; the search itself is session_search
    search_help_text = (
        "Searches titles, metadata values and message content "
        "(PostgreSQL: full-text, all words, the newest 1,000 matches of each kind; "
        "SQLite: substring)."
    )
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions = ("export_json",)
    readonly_fields = ("id", "workspace", "agent", "user_id", "external_user", "created_at",
                       "updated_at", "totals", "current_summary", "conversation")
    fieldsets = (
        (None, {"fields": ("id", "title", "workspace", "agent", "user_id", "external_user",
                           "created_at", "updated_at", "totals")}),
        ("Metadata", {"fields": ("metadata",)}),
        ("Conversation", {"fields": ("current_summary", "conversation")}),
    )

    class Media:
        css = {"all": ("chat/admin.css",)}  # the changelist's columns fit at 1440 px

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SessionChangeList

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any],
                           search_term: str) -> tuple[QuerySet[Any], bool]:
        return session_search(queryset, search_term), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions are created by clients through the API

    # --- columns ---------------------------------------------------------------------------

    @admin.display(description="title", ordering="title")
    def title_or_id(self, obj: Session) -> str:
        return obj.title or f"({obj.id})"

    @admin.display(description="external user")
    def external_user(self, obj: Session) -> str:
        metadata = obj.metadata if isinstance(obj.metadata, dict) else {}
        for key in ("user_id", "external_user_id"):
            value = metadata.get(key)
            if value not in (None, ""):
                return str(value)
        return obj.user_id or "—"

    @admin.display(description="messages", ordering="message_count")
    def message_total(self, obj: Session) -> int:
        return obj.message_count

    @admin.display(description="last activity", ordering="updated_at")
    def last_activity(self, obj: Session) -> Any:
        return timezone.localtime(obj.updated_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="tokens", ordering="total_tokens")
    def tokens(self, obj: Session) -> int:
        return obj.total_tokens

    @admin.display(description="cost (USD)", ordering="total_cost")
    def cost(self, obj: Session) -> str:
        return f"{obj.total_cost:.4f}"

    @admin.display(description="totals")
    def totals(self, obj: Session) -> str:
        return f"{obj.message_count} messages, {obj.total_tokens} tokens, ${self.cost(obj)}"

    # --- the conversation --------------------------------------------------------------------

    @admin.display(description="summary")
    def current_summary(self, obj: Session) -> SafeString | str:
        summary = obj.summary
        if summary is None:
            return "—"
        return format_html(
            '<div class="current-summary"><div style="font-size: 0.85em; '
            'color: var(--body-quiet-color);">Messages up to <a href="#message-{}">{}</a> '
            "are sent to the model as this summary · {} folded · {} · {}</div>"
            '<div style="white-space: pre-wrap; margin-top: 4px;">{}</div></div>',
            summary.covers_until_message_id, summary.covers_until_message_id,
            summary.messages_folded, summary.model or "model unknown",
            timezone.localtime(summary.created_at).strftime("%Y-%m-%d %H:%M"),
            summary.content)

    @admin.display(description="conversation")
    def conversation(self, obj: Session) -> SafeString:
        messages = list(Message.objects.filter(session_id=obj.pk).order_by("id"))
        feedback = dict(
            Feedback.objects.filter(session_id=obj.pk).values_list("execution_id", "value")
        )
        turns = []
        for message in messages:
            execution_url = (
                reverse("admin:executions_execution_change", args=[message.execution_id])
                if message.execution_id else None
            )
            turns.append({
                "message": message,
                "execution_url": execution_url,
                "feedback": feedback.get(message.execution_id)
                if message.role == Message.Role.ASSISTANT and message.execution_id else None,
                "tool_calls": _pretty(message.tool_calls),
                "tool_results": _pretty(message.tool_results),
                "metadata": _pretty(message.metadata) if message.metadata else "",
            })
        # The template autoescapes every value; the result is HTML we built.
        return mark_safe(  # noqa: S308
            render_to_string("admin/chat/session/conversation.html", {"turns": turns})
        )

    # --- actions -------------------------------------------------------------------------------

    @admin.action(description="Export selected sessions with their messages (JSON)",
                  permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        return export_response(queryset)


def _pretty(value: Any) -> str:
    if value in (None, "", [], {}):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False)

