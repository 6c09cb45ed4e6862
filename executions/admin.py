"""The execution admin: what ran, for whom, how long, what it cost; the event timeline."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from executions import log
from executions.admin_traces import TraceTimelineInline
from executions.models import (
    ACTIVE_STATUSES,
    Approval,
    ApprovalStatus,
    Execution,
    ExecutionStatus,
)
from executions.services import execution_request_cancel
from promptrails.admin_filters import DateRangeFilter, ScopedRelatedFilter
from promptrails.admin_scoping import WorkspaceScopedAdmin
from promptrails.errors import NotAllowed

TIMELINE_MAX_EVENTS = 2000


def _timeline_rows(execution_id: str) -> list[dict[str, Any]]:
    """Events in order, consecutive content deltas joined into one readable row."""
    rows: list[dict[str, Any]] = []
    for event in log.read(execution_id)[:TIMELINE_MAX_EVENTS]:
        fields = {k: v for k, v in event.items() if k not in ("seq", "type")}
        if event["type"] == "content" and rows and rows[-1]["type"] == "content":
            rows[-1]["text"] += str(fields.get("content", ""))
            rows[-1]["last_seq"] = event["seq"]
            continue
        if event["type"] == "content":
            rows.append({"seq": event["seq"], "last_seq": event["seq"], "type": "content",
                         "text": str(fields.get("content", "")), "details": ""})
            continue
        rows.append({
            "seq": event["seq"], "last_seq": event["seq"], "type": event["type"], "text": "",
            "details": json.dumps(fields, indent=2, ensure_ascii=False) if fields else "",
        })
    return rows


@admin.register(Execution)
class ExecutionAdmin(WorkspaceScopedAdmin):
    list_display = ("id", "status", "agent_label", "session_link", "duration", "total_tokens",
                    "cost_usd", "short_error", "created_at")
    list_select_related = ("agent",)
    list_filter = ("status", ("agent", ScopedRelatedFilter), ("created_at", DateRangeFilter))
    search_fields = ("=id", "=session_id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    actions = ("cancel_executions",)
    inlines = (TraceTimelineInline,)
    exclude = ("input", "output", "metadata")
    readonly_fields = (
        "id", "workspace", "status", "agent", "agent_name", "agent_version", "user",
        "session_link", "parent", "model", "prompt_tokens", "completion_tokens",
        "cached_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "duration",
        "error", "trace_id", "started_at", "completed_at", "created_at", "input_pretty",
        "output_pretty", "timeline",
    )
    fieldsets = (
        (None, {"fields": ("id", "workspace", "status", "agent", "agent_name",
                           "agent_version", "user", "session_link", "parent", "error")}),
        ("Usage", {"fields": ("model", "prompt_tokens", "completion_tokens", "cached_tokens",
                              "reasoning_tokens", "total_tokens", "cost_usd", "duration")}),
        ("Times", {"fields": ("created_at", "started_at", "completed_at", "trace_id")}),
        ("Input and output", {"fields": ("input_pretty", "output_pretty"),
                              "classes": ("collapse",)}),
        ("Event log", {"fields": ("timeline",)}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only; cancelling is an action

    @admin.display(description="agent", ordering="agent_name")
    def agent_label(self, obj: Execution) -> str:
        return obj.agent.name if obj.agent else (obj.agent_name or "—")

    @admin.display(description="session")
    def session_link(self, obj: Execution) -> str:
        if not obj.session_id:
            return "—"
        try:
            url = reverse("admin:chat_session_change", args=[obj.session_id])
        except NoReverseMatch:
            return obj.session_id
        return format_html('<a href="{}">{}</a>', url, obj.session_id)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: Execution) -> str:
        if obj.duration_ms is None:
            return "—"
        return f"{obj.duration_ms / 1000:.2f} s"

    @admin.display(description="cost (USD)", ordering="cost")
    def cost_usd(self, obj: Execution) -> str:
        return f"{obj.cost:.6f}"

    @admin.display(description="error")
    def short_error(self, obj: Execution) -> str:
        if not obj.error:
            return ""
        return obj.error if len(obj.error) <= 80 else obj.error[:79] + "…"

    @admin.display(description="input")
    def input_pretty(self, obj: Execution) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.input, indent=2, ensure_ascii=False))

    @admin.display(description="output")
    def output_pretty(self, obj: Execution) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.output, indent=2, ensure_ascii=False))

    @admin.display(description="timeline")
    def timeline(self, obj: Execution) -> SafeString:
        # The template autoescapes every value.
        return mark_safe(  # noqa: S308
            render_to_string("admin/executions/execution/timeline.html",
                             {"rows": _timeline_rows(obj.pk)})
        )

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("executions.change_execution"))

    @admin.action(description="Cancel selected running executions", permissions=["cancel"])
    def cancel_executions(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        from executions import approvals, runner  # the runtime, only when cancelling

        cancelled = 0
        for execution in queryset.filter(status__in=ACTIVE_STATUSES).exclude(
            status=ExecutionStatus.CANCEL_REQUESTED
        ):
            if execution.status == ExecutionStatus.WAITING_APPROVAL and \
                    approvals.execution_cancel_parked(
                        execution=execution, decided_by=f"user:{request.user.get_username()}"):
                cancelled += 1
                continue
            execution_request_cancel(execution=execution)
            async_to_sync(runner.request_cancel)(execution.id)
            cancelled += 1
        if cancelled:
            self.message_user(request, f"Asked {cancelled} execution(s) to cancel.",
                              messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected executions is running.",
                              messages.WARNING)


@admin.register(Approval)
class ApprovalAdmin(WorkspaceScopedAdmin):
    """The approvals inbox: tool calls waiting for a person, for the staff of the workspace
    (approve or deny the selected ones; the parked runs resume)."""

    list_display = ("tool_name", "status", "execution_link", "session_id", "arguments_short",
                    "expires_at", "decided_by", "created_at")
    list_filter = ("status", ("created_at", DateRangeFilter))
    search_fields = ("=id", "=execution__id", "=session_id")
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    actions = ("approve_selected", "deny_selected")
    exclude = ("state",)
    readonly_fields = ("id", "workspace", "execution", "agent_id", "session_id", "tool_call_id",
                       "tool_name", "arguments", "status", "on_timeout", "decided_by",
                       "decided_at", "reason", "expires_at", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="execution")
    def execution_link(self, obj: Approval) -> str:
        url = reverse("admin:executions_execution_change", args=[obj.execution_id])
        return format_html('<a href="{}">{}</a>', url, obj.execution_id)

    @admin.display(description="arguments")
    def arguments_short(self, obj: Approval) -> str:
        text = json.dumps(obj.arguments, ensure_ascii=False)
        return text if len(text) <= 80 else text[:79] + "…"

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("executions.change_approval"))

    def _decide(self, request: HttpRequest, queryset: QuerySet[Any], approved: bool) -> None:
        from executions import approvals  # the runtime, only when deciding

        decided = 0
        who = f"user:{request.user.get_username()}"
        for approval in queryset.filter(status=ApprovalStatus.PENDING):
            try:
                spec = approvals.approval_decide(approval=approval, approved=approved,
                                                 reason=None, decided_by=who)
            except NotAllowed:
                continue  # decided elsewhere meanwhile
            if spec is not None:
                approvals.start_resumed(spec)
            decided += 1
        verb = "Approved" if approved else "Denied"
        if decided:
            self.message_user(request, f"{verb} {decided} tool call(s); the runs resume.",
                              messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected approvals is pending.",
                              messages.WARNING)

    @admin.action(description="Approve the selected tool calls", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._decide(request, queryset, approved=True)

    @admin.action(description="Deny the selected tool calls", permissions=["decide"])
    def deny_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._decide(request, queryset, approved=False)
