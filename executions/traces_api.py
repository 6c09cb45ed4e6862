"""Trace endpoints (docs/api.md §8): span list, one trace's spans, summary; workspace-scoped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from executions import schema as docs
from executions.models import Span, SpanKind, SpanStatus
from executions.traces_otel import service_name
from promptrails.api.formats import iso
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped

TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_TRACE_SPANS = 1000

FILTER_PARAMS = [
    OpenApiParameter("trace_id", str, description="32 hex chars"),
    OpenApiParameter("kind", str, enum=SpanKind.values),
    OpenApiParameter("execution_id", str),
    OpenApiParameter("session_id", str),
    OpenApiParameter("status", str, enum=SpanStatus.values),
    OpenApiParameter("agent_id", str),
    OpenApiParameter("model_name", str),
    OpenApiParameter("date_from", str, description="ISO 8601 date or date-time"),
    OpenApiParameter("date_to", str, description="ISO 8601 date or date-time"),
]


# --- reads ---------------------------------------------------------------------------------


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


# --- wire format ---------------------------------------------------------------------------


def span_data(span: Span) -> dict[str, Any]:
    """A span as the SDK's ``Trace`` (types.py) reads it."""
    execution = span.execution
    has_usage = span.kind != SpanKind.TOOL
    usage: dict[str, int] | None = None
    if has_usage:
        usage = {"prompt_tokens": span.prompt_tokens,
                 "completion_tokens": span.completion_tokens,
                 "total_tokens": span.total_tokens}
        for name in ("cached_tokens", "reasoning_tokens", "cache_creation_tokens"):
            if getattr(span, name):
                usage[name] = getattr(span, name)
    completion_start = None
    if span.ttft_ms is not None:
        completion_start = iso(span.started_at + timedelta(milliseconds=span.ttft_ms))
    return {
        "id": span.id,
        "workspace_id": span.workspace_id,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "status": span.status,
        "level": "error" if span.status == SpanStatus.ERROR else "default",
        "input": span.input,
        "output": span.output,
        "attributes": span.attributes or {},
        "tags": [],
        "token_usage": usage,
        "cost": float(span.cost or 0),
        "duration_ms": span.duration_ms,
        "ttft_ms": span.ttft_ms,
        "completion_start_time": completion_start,
        "error_message": span.error or "",
        "error_type": ("tool_error" if span.kind == SpanKind.TOOL else f"{span.kind}_error")
        if span.status == SpanStatus.ERROR else "",
        "prompt_tokens": span.prompt_tokens if has_usage else None,
        "completion_tokens": span.completion_tokens if has_usage else None,
        "total_tokens": span.total_tokens if has_usage else None,
        "model_name": span.model,
        "provider": span.provider,
        "agent_id": execution.agent_id,
        "agent_name": execution.agent_name,
        "agent_type": "agent",
        "user_id": str(execution.user_id) if execution.user_id is not None else None,
        "session_id": span.session_id or "",
        "execution_id": span.execution_id,
        "data_source_id": None,
        "data_source_name": "",
        "prompt_name": "",
        "mcp_tool_name": span.name if span.kind == SpanKind.TOOL else "",
        "mcp_tool_type": (span.attributes or {}).get("tool_type", "")
        if span.kind == SpanKind.TOOL else "",
        "service_name": service_name(),
        "started_at": iso(span.started_at),
        "ended_at": iso(span.ended_at),
        "created_at": iso(span.created_at),
    }


# --- views ---------------------------------------------------------------------------------


class TraceListView(APIView):
    @extend_schema(operation_id="traces_list", parameters=doc_page_params(*FILTER_PARAMS),
                   responses=responses(many(docs.SpanSerializer), 400),
                   description="Spans, newest first.")
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = span_list(workspace=request_workspace(request), params=request.query_params)
        items, page_meta = paginate(
            qs.select_related("execution").order_by("-started_at", "-id"), params)
        return Response({"data": [span_data(s) for s in items], "meta": page_meta})


class TraceSummaryView(APIView):
    @extend_schema(operation_id="traces_summary", parameters=FILTER_PARAMS,
                   responses=responses(one(docs.TraceSummarySerializer), 400))
    def get(self, request: Request) -> Response:
        qs = span_list(workspace=request_workspace(request), params=request.query_params)
        return data(trace_summary(qs, request.query_params.get("kind") or None))


class TraceDetailView(APIView):
    @extend_schema(operation_id="traces_retrieve",
                   responses=responses(many(docs.SpanSerializer, paged=False), 404),
                   description="All spans of one trace (root first), without `meta`.")
    def get(self, request: Request, trace_id: str) -> Response:
        spans = trace_spans(workspace=request_workspace(request), trace_id=trace_id)
        return data([span_data(s) for s in spans])
