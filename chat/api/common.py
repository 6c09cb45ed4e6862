"""What the chat API's resource modules share: the body check and the docs field helper."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from promptrails.errors import InvalidInput


def body_of(request: Request) -> dict[str, Any]:
    body = request.data
    if not isinstance(body, dict):
        raise InvalidInput({"body": ["The request body must be a JSON object."]})
    return body


def object_field(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(child=serializers.JSONField(), **kwargs)
