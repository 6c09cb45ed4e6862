"""OpenAPI descriptions of executions and trace spans (documentation only)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers as S

from executions.models import ExecutionStatus, SpanKind, SpanStatus


def _object(**kwargs: Any) -> S.DictField:
    return S.DictField(child=S.JSONField(), **kwargs)


class TokenUsageSerializer(S.Serializer):
    prompt_tokens = S.IntegerField()
    completion_tokens = S.IntegerField()
    total_tokens = S.IntegerField()
    cached_tokens = S.IntegerField(required=False)
    reasoning_tokens = S.IntegerField(required=False)


class ExecutionSerializer(S.Serializer):
    id = S.CharField()
    agent_id = S.CharField(allow_null=True)
    agent_name = S.CharField(allow_blank=True)
    agent_version_id = S.CharField(allow_null=True)
    workspace_id = S.CharField()
    user_id = S.CharField(allow_null=True)
    session_id = S.CharField(allow_null=True)
    parent_execution_id = S.CharField(allow_null=True)
    status = S.ChoiceField(choices=ExecutionStatus.values)
    input = S.JSONField()
    output = S.JSONField(allow_null=True)
    error = S.CharField(allow_null=True, allow_blank=True)
    metadata = _object()
    model = S.CharField(allow_blank=True, allow_null=True)
    token_usage = TokenUsageSerializer()
    total_tokens = S.IntegerField()
    cost = S.FloatField()
    duration_ms = S.IntegerField(allow_null=True)
    trace_id = S.CharField(allow_blank=True, allow_null=True)
    approval_expires_at = S.DateTimeField(allow_null=True)
    children = S.ListField(child=_object(), help_text="Child executions (same shape), "
                                                      "filled in by the tree endpoint.")
    started_at = S.DateTimeField(allow_null=True)
    completed_at = S.DateTimeField(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class ExecuteResultSerializer(ExecutionSerializer):
    execution_id = S.CharField(help_text="Same as id.")


class ExecuteSerializer(S.Serializer):
    input = S.JSONField(required=False, help_text="A JSON object, or a string taken as "
                                                  '`{"message": <string>}`.')
    session_id = S.CharField(required=False, allow_null=True)
    version_id = S.CharField(required=False, allow_null=True)
    sync = S.BooleanField(required=False, default=True,
                          help_text="Wait for the run to end (default true).")


class DecisionSerializer(S.Serializer):
    reason = S.CharField(required=False, allow_blank=True, allow_null=True)


class SpanSerializer(S.Serializer):
    id = S.CharField()
    workspace_id = S.CharField()
    trace_id = S.CharField()
    span_id = S.CharField()
    parent_span_id = S.CharField(allow_blank=True)
    name = S.CharField(allow_blank=True)
    kind = S.ChoiceField(choices=SpanKind.values)
    status = S.ChoiceField(choices=SpanStatus.values)
    level = S.ChoiceField(choices=["default", "error"])
    input = S.JSONField(allow_null=True)
    output = S.JSONField(allow_null=True)
    attributes = _object()
    tags = S.ListField(child=S.CharField())
    token_usage = _object(allow_null=True)
    cost = S.FloatField()
    duration_ms = S.IntegerField(allow_null=True)
    ttft_ms = S.IntegerField(allow_null=True)
    completion_start_time = S.DateTimeField(allow_null=True)
    error_message = S.CharField(allow_blank=True)
    error_type = S.CharField(allow_blank=True)
    prompt_tokens = S.IntegerField(allow_null=True)
    completion_tokens = S.IntegerField(allow_null=True)
    total_tokens = S.IntegerField(allow_null=True)
    model_name = S.CharField(allow_blank=True, allow_null=True)
    provider = S.CharField(allow_blank=True, allow_null=True)
    agent_id = S.CharField(allow_null=True)
    agent_name = S.CharField(allow_blank=True, allow_null=True)
    agent_type = S.CharField()
    user_id = S.CharField(allow_null=True)
    session_id = S.CharField(allow_blank=True)
    execution_id = S.CharField(allow_null=True)
    data_source_id = S.CharField(allow_null=True)
    data_source_name = S.CharField(allow_blank=True)
    prompt_name = S.CharField(allow_blank=True)
    mcp_tool_name = S.CharField(allow_blank=True)
    mcp_tool_type = S.CharField(allow_blank=True)
    service_name = S.CharField()
    started_at = S.DateTimeField()
    ended_at = S.DateTimeField(allow_null=True)
    created_at = S.DateTimeField()


class TraceSummarySerializer(S.Serializer):
    total_traces = S.IntegerField()
    total_tokens = S.IntegerField()
    total_cost = S.FloatField()
    avg_duration_ms = S.FloatField()
    error_count = S.IntegerField()
    unique_models = S.IntegerField()
    unique_sessions = S.IntegerField()
