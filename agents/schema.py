"""OpenAPI descriptions of the agents app's objects (documentation only; see payloads.py)."""

from __future__ import annotations

from rest_framework import serializers

from agents.models import MemoryType, Provider
from agents.serializers import AGENT_STATUSES, AGENT_TYPES

S = serializers


def _json(**kwargs: object) -> S.JSONField:
    return S.JSONField(**kwargs)  # type: ignore[arg-type]


def _object(**kwargs: object) -> S.DictField:
    return S.DictField(child=S.JSONField(), **kwargs)  # type: ignore[arg-type]


class AttachedToolSerializer(S.Serializer):
    mcp_tool_id = S.CharField()
    name = S.CharField()
    type = S.CharField()
    description = S.CharField(allow_blank=True)
    requires_approval = S.BooleanField()
    no_retry = S.BooleanField()
    sort_order = S.IntegerField()


class AgentVersionSerializer(S.Serializer):
    id = S.CharField()
    agent_id = S.CharField()
    version = S.CharField()
    message = S.CharField(allow_blank=True)
    config = _object()
    input_schema = _object(allow_null=True)
    output_schema = _object(allow_null=True)
    model_config = _object(allow_null=True)
    run_budget = _object(allow_null=True)
    tools = AttachedToolSerializer(many=True)
    sub_agents = S.ListField(child=_json())
    guardrails = S.ListField(child=_json())
    is_current = S.BooleanField()
    is_active = S.BooleanField(help_text="Same as is_current (the Go client reads it).")
    created_at = S.DateTimeField()


class AgentSerializer(S.Serializer):
    id = S.CharField()
    workspace_id = S.CharField()
    name = S.CharField()
    description = S.CharField(allow_blank=True)
    type = S.ChoiceField(choices=AGENT_TYPES)
    status = S.ChoiceField(choices=AGENT_STATUSES)
    labels = S.ListField(child=S.CharField(allow_blank=True))
    created_by_id = S.CharField(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()
    current_version_id = S.CharField(allow_null=True)
    current_version = AgentVersionSerializer(allow_null=True, required=False,
                                             help_text="Embedded on single-agent reads.")


class AgentPreviewSerializer(S.Serializer):
    agent_id = S.CharField()
    version_id = S.CharField()
    prompt_id = S.CharField()
    prompt_version_id = S.CharField()
    model_id = S.CharField(allow_null=True)
    system_prompt = S.CharField(allow_blank=True)
    user_prompt = S.CharField(allow_blank=True)
    input = _object()


class PromptVersionSerializer(S.Serializer):
    id = S.CharField()
    prompt_id = S.CharField()
    version = S.CharField()
    system_prompt = S.CharField(allow_blank=True)
    user_prompt = S.CharField(allow_blank=True)
    input_schema = _object()
    config = _object()
    message = S.CharField(allow_blank=True)
    is_current = S.BooleanField()
    is_active = S.BooleanField()
    created_at = S.DateTimeField()


class PromptSerializer(S.Serializer):
    id = S.CharField()
    workspace_id = S.CharField()
    name = S.CharField()
    description = S.CharField(allow_blank=True)
    status = S.CharField()
    current_version_id = S.CharField(allow_null=True)
    current_version = PromptVersionSerializer(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class PromptPreviewSerializer(S.Serializer):
    prompt_id = S.CharField()
    version_id = S.CharField()
    system_prompt = S.CharField(allow_blank=True)
    user_prompt = S.CharField(allow_blank=True)
    input = _object()


class _ModelFlags(S.Serializer):
    max_tokens = S.IntegerField()
    max_output_tokens = S.IntegerField()
    supports_vision = S.BooleanField()
    supports_tools = S.BooleanField()
    supports_json = S.BooleanField()
    supports_streaming = S.BooleanField()
    supports_temperature = S.BooleanField()
    supports_top_p = S.BooleanField()
    supports_top_k = S.BooleanField()
    supports_reasoning = S.BooleanField()
    supports_web_search = S.BooleanField()
    supports_prompt_caching = S.BooleanField()
    input_price = S.FloatField(help_text="USD per 1M input tokens")
    output_price = S.FloatField(help_text="USD per 1M output tokens")
    cached_input_price = S.FloatField(allow_null=True)
    is_deprecated = S.BooleanField()


class LLMModelSerializer(_ModelFlags):
    id = S.CharField()
    provider = S.ChoiceField(choices=Provider.values)
    model_id = S.CharField()
    display_name = S.CharField()
    base_url = S.CharField(allow_null=True)
    is_active = S.BooleanField()
    deprecated_at = S.DateTimeField(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class AvailableModelSerializer(_ModelFlags):
    id = S.CharField()
    model_id = S.CharField()
    display_name = S.CharField()


class ModelGroupSerializer(S.Serializer):
    provider = S.ChoiceField(choices=Provider.values)
    models = AvailableModelSerializer(many=True)


class AvailableModelsSerializer(S.Serializer):
    groups = ModelGroupSerializer(many=True)


class CredentialSerializer(S.Serializer):
    id = S.CharField()
    workspace_id = S.CharField()
    name = S.CharField()
    type = S.CharField()
    category = S.CharField()
    description = S.CharField(allow_blank=True)
    masked_content = S.CharField(allow_blank=True,
                                 help_text="First 4 + `...` + last 4; the value is never returned.")
    is_default = S.BooleanField()
    # a field named like Serializer.is_valid (the metaclass moves it to _declared_fields)
    is_valid = S.BooleanField(allow_null=True)  # type: ignore[assignment]
    last_checked_at = S.DateTimeField(allow_null=True)
    schema_type = S.CharField(allow_blank=True)
    has_schema = S.BooleanField()
    schema_updated_at = S.DateTimeField(allow_null=True)
    created_by_id = S.CharField(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class CredentialCheckSerializer(CredentialSerializer):
    valid = S.BooleanField()
    check_error = S.CharField(allow_null=True)


class DiscoveredToolSerializer(S.Serializer):
    name = S.CharField()
    description = S.CharField(allow_blank=True)
    inputSchema = _object()  # noqa: N815 - the MCP wire name


class ToolSerializer(S.Serializer):
    id = S.CharField()
    workspace_id = S.CharField()
    name = S.CharField()
    type = S.CharField()
    description = S.CharField(allow_blank=True)
    config = _object()
    schema = _object()
    is_active = S.BooleanField()
    status = S.CharField()
    credential_id = S.CharField(allow_null=True)
    template_id = S.CharField(allow_null=True)
    discovered_tools = DiscoveredToolSerializer(many=True)
    discovered_at = S.DateTimeField(allow_null=True)
    last_error = S.CharField(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class McpDiscoverSerializer(S.Serializer):
    tools = DiscoveredToolSerializer(many=True)
    trace_id = S.CharField()


class McpCallResultSerializer(S.Serializer):
    content = S.ListField(child=_object())
    is_error = S.BooleanField()
    trace_id = S.CharField()


class MemorySerializer(S.Serializer):
    id = S.CharField()
    agent_id = S.CharField()
    workspace_id = S.CharField()
    subject = S.CharField(allow_blank=True,
                          help_text="The external user it is about; empty: about the agent.")
    content = S.CharField()
    memory_type = S.ChoiceField(choices=MemoryType.values)
    importance = S.FloatField(min_value=0, max_value=1)
    access_count = S.IntegerField()
    session_id = S.CharField(allow_null=True, help_text="The session it was told in.")
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class MemoryWriteSerializer(S.Serializer):
    """Request body of create (content required) and update (every field optional)."""

    content = S.CharField()
    memory_type = S.ChoiceField(choices=MemoryType.values, required=False)
    importance = S.FloatField(min_value=0, max_value=1, required=False)
    subject = S.CharField(allow_blank=True, allow_null=True, required=False)
