"""The trace timeline on the execution admin page: one bar per span, scaled to duration.

Wire it into ``ExecutionAdmin`` (executions/admin.py) with
``inlines = (TraceTimelineInline,)``. The inline renders its own template (no forms): the
spans of the execution in time order, root first, each with its bar (offset and width
relative to the turn), tokens, cost, time to first token and error.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from executions.models import Execution, Span, SpanKind
from promptrails.admin_scoping import WorkspaceScopedMixin, object_in_scope

TIMELINE_MAX_SPANS = 500
MIN_BAR_PCT = 0.4  # a 0 ms span stays visible


def timeline_rows(execution: Execution) -> dict[str, Any]:
    """The spans of the execution as timeline rows (percentages of the turn's span)."""
    spans = list(Span.objects.filter(execution=execution, workspace_id=execution.workspace_id)
                 .order_by("started_at", "id")[:TIMELINE_MAX_SPANS])
    spans.sort(key=lambda s: (s.parent_span_id != "", s.started_at))
    if not spans:
        return {"rows": [], "total_ms": 0, "trace_id": execution.trace_id}
    start = min(s.started_at for s in spans)
    end = max((s.ended_at or s.started_at) for s in spans)
    total_ms = max((end - start).total_seconds() * 1000, 1.0)
    rows = []
    for span in spans:
        offset = (span.started_at - start).total_seconds() * 1000
        left = min(offset / total_ms * 100, 100.0)
        if not span.parent_span_id:
            width = 100.0  # the root covers its children by construction (spans_build)
        else:
            width = max(min(span.duration_ms / total_ms * 100, 100.0 - left), MIN_BAR_PCT)
        summary = ""
        if span.kind == SpanKind.TOOL:
            summary = str((span.output or {}).get("summary", ""))
        rows.append({
            "span": span,
            "depth": 0 if not span.parent_span_id else 1,
            "left": f"{left:.2f}",
            "width": f"{width:.2f}",
            "offset_ms": int(offset),
            "tokens": span.total_tokens if span.kind != SpanKind.TOOL else None,
            "cost": f"{span.cost:.6f}" if span.kind != SpanKind.TOOL else "",
            "summary": summary,
        })
    return {"rows": rows, "total_ms": int(total_ms), "trace_id": execution.trace_id}


class TraceTimelineInline(WorkspaceScopedMixin, admin.TabularInline):  # type: ignore[type-arg]
    """Read-only: shows the execution's trace as a timeline (see the module docstring)."""

    model = Span
    fk_name = "execution"
    template = "admin/executions/trace_timeline.html"
    verbose_name = "trace span"
    verbose_name_plural = "Trace"
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).none()  # the template renders rows, not forms

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.trace_timeline = (  # type: ignore[attr-defined]
            timeline_rows(obj) if isinstance(obj, Execution) else {"rows": []}
        )
        return formset

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return bool(user.has_perm("executions.view_execution")
                    or user.has_perm("executions.change_execution")) and object_in_scope(
                        obj, request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
