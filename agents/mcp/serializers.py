"""Input of the MCP tool endpoints (strict JSON types; the config is checked by
agents.mcp.services.clean_config)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.serializers import ObjectField, StrictBooleanField, StrictCharField

TOOL_STATUSES = ("active", "inactive", "error")


def _check_template(value: Any) -> Any:
    if value not in (None, ""):
        raise serializers.ValidationError("MCP templates are not supported by this server.")
    return value


class McpToolCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    type = StrictCharField(max_length=32)
    description = StrictCharField(allow_blank=True, required=False, default="")
    config = ObjectField(required=False, default=dict)
    schema = ObjectField(required=False, allow_null=True)  # accepted; discovery fills it
    credential_id = StrictCharField(max_length=100, required=False, allow_null=True,
                                    allow_blank=True)
    template_id = StrictCharField(required=False, allow_null=True, allow_blank=True,
                                  validators=[_check_template])
    status = serializers.ChoiceField(choices=TOOL_STATUSES, required=False, allow_null=True)
    is_active = StrictBooleanField(required=False)


class McpToolUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    config = ObjectField(required=False)
    credential_id = StrictCharField(max_length=100, required=False, allow_null=True,
                                    allow_blank=True)
    is_active = StrictBooleanField(required=False)
    status = serializers.ChoiceField(choices=TOOL_STATUSES, required=False)


class McpToolCallSerializer(serializers.Serializer):
    tool_name = StrictCharField(max_length=200)
    arguments = ObjectField(required=False, allow_null=True, default=dict)


def active_from(body: dict[str, Any]) -> bool | None:
    """``is_active`` from the body: given outright, or ``status`` "inactive"/"active"."""
    if "is_active" in body:
        return bool(body["is_active"])
    status = body.get("status")
    if status in ("active", "inactive"):
        return status == "active"
    return None
