"""Input validation for the agents app's write endpoints (strict about JSON types)."""

from __future__ import annotations

import json
import re
from typing import Any

from rest_framework import serializers

from promptrails.outbound import OutboundRefused, check_url

NAME_MAX = 200
VERSION_MAX = 50
AGENT_STATUSES = ("active", "draft", "inactive", "archived")
AGENT_TYPES = ("agent", "workflow")
CREDENTIAL_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
MAX_VALUE_CHARS = 10_000
URL_PROVIDER_TYPES = ("openai", "anthropic")  # whose values may name a base_url


# --- strict scalar fields: JSON types only, no string coercion ------------------------


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "A valid integer is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictFloatField(serializers.FloatField):
    default_error_messages = {"invalid": "A valid number is required."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return float(super().to_internal_value(data))


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "A string is required."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class ObjectField(serializers.DictField):
    """A JSON object (any values)."""


def _labels_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=StrictCharField(max_length=100), max_length=50, **kwargs)


# --- agents ---------------------------------------------------------------------------


class AgentCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX)
    type = serializers.ChoiceField(choices=AGENT_TYPES, default="agent")
    description = StrictCharField(allow_blank=True, required=False, default="")
    status = serializers.ChoiceField(choices=AGENT_STATUSES, required=False, default="active")
    labels = _labels_field(required=False, default=list)


class AgentUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX, required=False)
    type = serializers.ChoiceField(choices=AGENT_TYPES, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=AGENT_STATUSES, required=False)
    labels = _labels_field(required=False)


class ModelConfigSerializer(serializers.Serializer):
    model_id = StrictCharField(max_length=200, required=False, allow_null=True)
    fallback_model_id = StrictCharField(max_length=200, required=False, allow_null=True)
    temperature = StrictFloatField(min_value=0, max_value=2, required=False, allow_null=True)
    top_p = StrictFloatField(min_value=0, max_value=1, required=False, allow_null=True)
    top_k = StrictIntegerField(min_value=1, required=False, allow_null=True)
    max_tokens = StrictIntegerField(min_value=1, max_value=1_000_000, required=False,
                                    allow_null=True)


class RunBudgetSerializer(serializers.Serializer):
    max_cost = StrictFloatField(min_value=0, required=False, allow_null=True)
    max_total_tokens = StrictIntegerField(min_value=1, required=False, allow_null=True)
    max_tool_calls = StrictIntegerField(min_value=0, max_value=1000, required=False,
                                        allow_null=True)
    max_children = StrictIntegerField(min_value=0, required=False, allow_null=True)
    max_depth = StrictIntegerField(min_value=0, required=False, allow_null=True)


class ToolAttachmentSerializer(serializers.Serializer):
    mcp_tool_id = StrictCharField(max_length=100)
    requires_approval = StrictBooleanField(required=False, default=False)
    no_retry = StrictBooleanField(required=False, default=False)
    sort_order = StrictIntegerField(required=False, allow_null=True, default=None,
                                    min_value=-(2**31), max_value=2**31 - 1)  # the column


class AgentConfigSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AGENT_TYPES, default="agent")
    prompt_id = StrictCharField(max_length=100, required=False, allow_null=True)
    nodes = serializers.ListField(child=ObjectField(), required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("type", "agent") == "agent" and not attrs.get("prompt_id"):
            raise serializers.ValidationError({"prompt_id": ["An agent config needs a prompt_id."]})
        return attrs


class AgentVersionCreateSerializer(serializers.Serializer):
    version = StrictCharField(max_length=VERSION_MAX, required=False, allow_null=True)
    set_current = StrictBooleanField(required=False, default=False)
    message = StrictCharField(allow_blank=True, required=False, allow_null=True)
    config = AgentConfigSerializer()
    input_schema = ObjectField(required=False, allow_null=True)
    output_schema = ObjectField(required=False, allow_null=True)
    model_config = ModelConfigSerializer(required=False, allow_null=True)
    run_budget = RunBudgetSerializer(required=False, allow_null=True)
    # A ListField, not many=True: `allow_null` then covers the list, never its items
    # (a null item used to reach validate_tools and fail with a 500).
    tools = serializers.ListField(child=ToolAttachmentSerializer(), required=False,
                                  allow_null=True)

    def validate_tools(self, value: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        value = value or []
        ids = [t["mcp_tool_id"] for t in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A tool can be attached only once.")
        return value


class PreviewSerializer(serializers.Serializer):
    input = ObjectField(required=False, default=dict)
    version_id = StrictCharField(max_length=100, required=False, allow_null=True)


# --- prompts --------------------------------------------------------------------------


class PromptVersionFields(serializers.Serializer):
    system_prompt = StrictCharField(allow_blank=True, required=False, default="",
                                    trim_whitespace=False, max_length=200_000)
    user_prompt = StrictCharField(allow_blank=True, required=False, default="",
                                  trim_whitespace=False, max_length=200_000)
    input_schema = ObjectField(required=False, default=dict)
    config = ObjectField(required=False, default=dict)
    message = StrictCharField(allow_blank=True, required=False, default="")


class PromptVersionCreateSerializer(PromptVersionFields):
    version = StrictCharField(max_length=VERSION_MAX, required=False, allow_null=True)
    set_current = StrictBooleanField(required=False, default=False)


class PromptCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX)
    description = StrictCharField(allow_blank=True, required=False, default="")
    # Optional initial version (an extension: the SDK sends only name and description).
    system_prompt = StrictCharField(allow_blank=True, required=False, trim_whitespace=False,
                                    max_length=200_000)
    user_prompt = StrictCharField(allow_blank=True, required=False, trim_whitespace=False,
                                  max_length=200_000)
    input_schema = ObjectField(required=False)
    version = StrictCharField(max_length=VERSION_MAX, required=False, allow_null=True)
    message = StrictCharField(allow_blank=True, required=False, default="")


class PromptUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=AGENT_STATUSES, required=False)


# --- credentials ----------------------------------------------------------------------


def _credential_type(value: str) -> str:
    value = value.strip().lower()
    if not CREDENTIAL_TYPE_RE.match(value):
        raise serializers.ValidationError(
            "type must be a short lowercase name such as openai or anthropic."
        )
    return value


def check_credential_value(type_: str, value: str) -> None:
    """A provider credential's value is a key or a JSON object {"api_key", "base_url"} (a
    server of the workspace's own): check its shape. A base_url must come with its own
    api_key (the server's keys never go to a URL a workspace chose) and pass the outbound
    policy (promptrails.outbound: resolved and checked now, and again at every connection)."""
    if type_ not in URL_PROVIDER_TYPES or not value.strip().startswith("{"):
        return
    try:
        parsed = json.loads(value)
    except ValueError:
        raise serializers.ValidationError(
            {"value": ["value looks like JSON but is not valid JSON."]}
        ) from None
    if not isinstance(parsed, dict):
        raise serializers.ValidationError({"value": ["value must be a JSON object."]})
    api_key = parsed.get("api_key", "")
    base_url = parsed.get("base_url")
    if not isinstance(api_key, str):
        raise serializers.ValidationError({"value": ["api_key must be a string."]})
    if base_url is not None:
        if not isinstance(base_url, str) or not base_url:
            raise serializers.ValidationError({"value": ["base_url must be an http(s) URL."]})
        if not api_key:
            raise serializers.ValidationError({"value": [
                "A base_url needs its own api_key: the server's keys are never sent to a URL "
                "a workspace chooses."]})
        try:
            check_url(base_url)
        except OutboundRefused as exc:
            raise serializers.ValidationError({"value": [f"base_url: {exc}"]}) from None
    if not api_key:
        raise serializers.ValidationError({"value": ["Give an api_key."]})


class CredentialCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX)
    type = StrictCharField(max_length=32, required=False, validators=[])
    provider = StrictCharField(max_length=32, required=False)
    category = StrictCharField(max_length=32, required=False, default="llm")
    value = StrictCharField(max_length=MAX_VALUE_CHARS, required=False, trim_whitespace=False)
    api_key = StrictCharField(max_length=MAX_VALUE_CHARS, required=False, trim_whitespace=False)
    description = StrictCharField(allow_blank=True, required=False, default="")
    is_default = StrictBooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        raw_type = attrs.get("type") or attrs.get("provider")
        if not raw_type:
            raise serializers.ValidationError({"type": ["This field is required."]})
        value = attrs.get("value") if "value" in attrs else attrs.get("api_key")
        if value is None or not value.strip():
            raise serializers.ValidationError({"value": ["This field is required."]})
        try:
            type_ = _credential_type(raw_type)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"type": exc.detail}) from None
        check_credential_value(type_, value)
        return {
            "name": attrs["name"],
            "type": type_,
            "category": attrs.get("category") or "llm",
            "value": value,
            "description": attrs.get("description", ""),
            "is_default": attrs.get("is_default", False),
        }


class CredentialUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX, required=False)
    category = StrictCharField(max_length=32, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    value = StrictCharField(max_length=MAX_VALUE_CHARS, required=False, trim_whitespace=False)
    is_default = StrictBooleanField(required=False)
