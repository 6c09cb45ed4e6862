"""Traces (docs/api.md §8): the span payload, its OpenAPI description, the views (span
list, one trace's spans, summary). Reads, workspace-scoped, are ``executions.selectors``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from executions import selectors
from executions.models import Span, SpanKind, SpanStatus
from executions.traces_otel import service_name
from promptrails.api.formats import iso
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace

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


# --- output --------------------------------------------------------------------------------


def span_data(span: Span) -> dict[str, Any]:
    """A span as the SDK's ``Trace`` (types.py) reads it (long but flat: one line a field)."""
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


# --- documentation ------------------------------------------------------------------------


def object_field(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(child=serializers.JSONField(), **kwargs)


class SpanSerializer(serializers.Serializer):
    id = serializers.CharField()
    workspace_id = serializers.CharField()
    trace_id = serializers.CharField()
    span_id = serializers.CharField()
    parent_span_id = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=SpanKind.values)
    status = serializers.ChoiceField(choices=SpanStatus.values)
    level = serializers.ChoiceField(choices=["default", "error"])
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    attributes = object_field()
    tags = serializers.ListField(child=serializers.CharField())
    token_usage = object_field(allow_null=True)
    cost = serializers.FloatField()
    duration_ms = serializers.IntegerField(allow_null=True)
    ttft_ms = serializers.IntegerField(allow_null=True)
    completion_start_time = serializers.DateTimeField(allow_null=True)
    error_message = serializers.CharField(allow_blank=True)
    error_type = serializers.CharField(allow_blank=True)
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    total_tokens = serializers.IntegerField(allow_null=True)
    model_name = serializers.CharField(allow_blank=True, allow_null=True)
    provider = serializers.CharField(allow_blank=True, allow_null=True)
    agent_id = serializers.CharField(allow_null=True)
    agent_name = serializers.CharField(allow_blank=True, allow_null=True)
    agent_type = serializers.CharField()
    user_id = serializers.CharField(allow_null=True)
    session_id = serializers.CharField(allow_blank=True)
    execution_id = serializers.CharField(allow_null=True)
    data_source_id = serializers.CharField(allow_null=True)
    data_source_name = serializers.CharField(allow_blank=True)
    prompt_name = serializers.CharField(allow_blank=True)
    mcp_tool_name = serializers.CharField(allow_blank=True)
    mcp_tool_type = serializers.CharField(allow_blank=True)
    service_name = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class TraceSummarySerializer(serializers.Serializer):
    total_traces = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = serializers.FloatField()
    avg_duration_ms = serializers.FloatField()
    error_count = serializers.IntegerField()
    unique_models = serializers.IntegerField()
    unique_sessions = serializers.IntegerField()


# --- views ---------------------------------------------------------------------------------


class TraceListView(APIView):
    @extend_schema(operation_id="traces_list", parameters=doc_page_params(*FILTER_PARAMS),
                   responses=responses(many(SpanSerializer), 400),
                   description="Spans, newest first.")
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = selectors.span_list(workspace=request_workspace(request), params=request.query_params)
        items, page_meta = paginate(
            qs.select_related("execution").order_by("-started_at", "-id"), params)
        return Response({"data": [span_data(s) for s in items], "meta": page_meta})


class TraceSummaryView(APIView):
    @extend_schema(operation_id="traces_summary", parameters=FILTER_PARAMS,
                   responses=responses(one(TraceSummarySerializer), 400))
    def get(self, request: Request) -> Response:
        qs = selectors.span_list(workspace=request_workspace(request), params=request.query_params)
        return data(selectors.trace_summary(qs, request.query_params.get("kind") or None))


class TraceDetailView(APIView):
    @extend_schema(operation_id="traces_retrieve",
                   responses=responses(many(SpanSerializer, paged=False), 404),
                   description="All spans of one trace (root first), without `meta`.")
    def get(self, request: Request, trace_id: str) -> Response:
        spans = selectors.trace_spans(workspace=request_workspace(request), trace_id=trace_id)
        return data([span_data(s) for s in spans])
