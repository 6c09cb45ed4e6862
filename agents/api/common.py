"""What every resource module of the agents API shares.

Strict JSON input fields (no string coercion), the constants several resources use,
the small view helpers (validate a body, page a queryset, 204) and the field helpers of
the documentation serializers. Each resource lives in its own module of this package:
its input serializers, its output (payload) functions, the serializers that document
that output for OpenAPI, and its views.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from promptrails.api.pagination import page_params, paginate

NAME_MAX = 200
VERSION_MAX = 50
AGENT_STATUSES = ("active", "draft", "inactive", "archived")
AGENT_TYPES = ("agent", "workflow")


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


def labels_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=StrictCharField(max_length=100), max_length=50, **kwargs)


class PreviewSerializer(serializers.Serializer):  # body of the agent and prompt previews
    input = ObjectField(required=False, default=dict)
    version_id = StrictCharField(max_length=100, required=False, allow_null=True)


# --- view helpers -----------------------------------------------------------------------


def valid(serializer_class: type[serializers.Serializer], request: Request,
          *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def page(request: Request, queryset: QuerySet[Any], render: Any) -> Response:
    items, meta = paginate(queryset, page_params(request.query_params))
    return Response({"data": [render(item) for item in items], "meta": meta})


def no_content() -> Response:
    return Response(status=status.HTTP_204_NO_CONTENT)


# --- documentation fields -----------------------------------------------------------------


def json_field(**kwargs: object) -> serializers.JSONField:
    return serializers.JSONField(**kwargs)  # type: ignore[arg-type]


def object_field(**kwargs: object) -> serializers.DictField:
    return serializers.DictField(child=serializers.JSONField(), **kwargs)  # type: ignore[arg-type]
