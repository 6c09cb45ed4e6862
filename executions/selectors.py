"""Reads of the executions app: executions, approvals, trace spans (workspace-scoped)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from executions.models import Approval, Execution, ExecutionStatus, Span, SpanKind, SpanStatus
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped, scoped_get

MAX_TREE_NODES = 500


def execution_list(*, workspace: Workspace, params: Any) -> QuerySet[Execution]:
    qs = scoped(Execution.objects.all(), workspace)
    for name in ("agent_id", "session_id"):
        if params.get(name):
            qs = qs.filter(**{name: params[name]})
    status = params.get("status")
    if status:
        if status not in ExecutionStatus.values:
            raise InvalidInput(
                {"status": [f"Must be one of {', '.join(ExecutionStatus.values)}."]}
            )
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def execution_get(*, workspace: Workspace, execution_id: str) -> Execution:
    execution = scoped_get(Execution.objects.all(), workspace, execution_id, "execution")
    return execution


def execution_tree(*, execution: Execution) -> dict[str, Any]:
    """The execution with a recursive `children` list, one query per level."""
    from executions.api.executions import execution_data  # the wire shape of each node

    nodes: dict[str, dict[str, Any]] = {execution.id: execution_data(execution)}
    level = [execution.id]
    while level and len(nodes) < MAX_TREE_NODES:
        children = list(
            Execution.objects.filter(parent_id__in=level, workspace_id=execution.workspace_id)
            .order_by("created_at", "id")
        )
        level = []
        for child in children:
            if child.id in nodes:
                continue
            nodes[child.id] = execution_data(child)
            assert child.parent_id is not None
            nodes[child.parent_id]["children"].append(nodes[child.id])
            level.append(child.id)
    return nodes[execution.id]


# --- approvals ------------------------------------------------------------------------------

APPROVAL_STATUSES = ["pending", "approved", "rejected", "expired"]


def approval_list(*, workspace: Workspace, status: str | None = None) -> QuerySet[Approval]:
    qs = scoped(Approval.objects.all(), workspace)
    if status:
        if status not in APPROVAL_STATUSES:
            raise InvalidInput({"status": [f"Must be one of {', '.join(APPROVAL_STATUSES)}."]})
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


# --- trace spans ------------------------------------------------------------------------------

TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_TRACE_SPANS = 1000


def _moment(raw: str, end_of_day: bool) -> datetime | None:
    """An ISO date or date-time (UTC when naive); the end of a date-only `date_to` is
    exclusive (next midnight), of a date-time inclusive. None when it does not parse or
    falls outside what a UTC timestamp can hold."""
    try:
        value = parse_datetime(raw)
        if value is not None:
            if end_of_day:
                value += timedelta(microseconds=1)
        else:
            day = parse_date(raw)
            if day is None:
                return None
            value = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - made aware below
            if end_of_day:
                value += timedelta(days=1)
        if timezone.is_naive(value):
            value = timezone.make_aware(value, UTC)
        # past year 9999 once in UTC (9999-12-31T23:59-23:59): nothing can compare with it
        value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return value


def span_list(*, workspace: Workspace, params: Any) -> QuerySet[Span]:
    """Spans of the workspace matching the filters; a bad filter value is a 400."""
    qs = scoped(Span.objects.all(), workspace)
    errors: dict[str, list[str]] = {}
    trace_id = params.get("trace_id")
    if trace_id:
        if not TRACE_ID.match(trace_id):
            errors["trace_id"] = ["Must be 32 hexadecimal characters."]
        else:
            qs = qs.filter(trace_id=trace_id.lower())
    kind = params.get("kind")
    if kind:
        if kind not in SpanKind.values:
            errors["kind"] = [f"Must be one of {', '.join(SpanKind.values)}."]
        else:
            qs = qs.filter(kind=kind)
    status = params.get("status")
    if status:
        if status not in SpanStatus.values:
            errors["status"] = [f"Must be one of {', '.join(SpanStatus.values)}."]
        else:
            qs = qs.filter(status=status)
    for name in ("execution_id", "session_id"):
        if params.get(name):
            qs = qs.filter(**{name: params[name]})
    if params.get("agent_id"):
        qs = qs.filter(execution__agent_id=params["agent_id"])
    if params.get("model_name"):
        qs = qs.filter(model=params["model_name"])
    for name, lookup, end_of_day in (("date_from", "started_at__gte", False),
                                     ("date_to", "started_at__lt", True)):
        raw = params.get(name)
        if raw:
            moment = _moment(raw, end_of_day)
            if moment is None:
                errors[name] = ["Must be an ISO 8601 date or date-time."]
            else:
                qs = qs.filter(**{lookup: moment})
    if errors:
        raise InvalidInput(errors)
    return qs


def trace_spans(*, workspace: Workspace, trace_id: str) -> list[Span]:
    """All spans of one trace of the workspace, in time order (root first); 404 if none."""
    if not TRACE_ID.match(trace_id):
        raise NotFound("trace")
    spans = list(
        scoped(Span.objects.all(), workspace).filter(trace_id=trace_id.lower())
        .select_related("execution").order_by("started_at", "id")[:MAX_TRACE_SPANS]
    )
    if not spans:
        raise NotFound("trace")
    spans.sort(key=lambda s: (s.parent_span_id != "", s.started_at))  # the root first
    return spans


def trace_summary(qs: QuerySet[Span], kind: str | None) -> dict[str, Any]:
    """docs/api.md §8 summary over the matching spans.

    Tokens, cost and average duration are measured on one kind of span so nothing is
    counted twice: the root ``agent`` spans (which carry their turn's totals), or the
    ``kind`` filtered on. Counts (traces, errors, models, sessions) cover every matching span.
    """
    measured = qs.filter(kind=kind or SpanKind.AGENT)
    sums = measured.aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"),
                              avg=Avg("duration_ms"))
    counts = qs.aggregate(
        traces=Count("trace_id", distinct=True),
        errors=Count("id", filter=Q(status=SpanStatus.ERROR)),
        models=Count("model", distinct=True, filter=~Q(model="")),
        sessions=Count("session_id", distinct=True),
    )
    return {
        "total_traces": counts["traces"] or 0,
        "total_tokens": int(sums["tokens"] or 0),
        "total_cost": round(float(sums["cost"] or 0.0), 8),
        "avg_duration_ms": round(float(sums["avg"] or 0.0), 3),
        "error_count": counts["errors"] or 0,
        "unique_models": counts["models"] or 0,
        "unique_sessions": counts["sessions"] or 0,
    }
