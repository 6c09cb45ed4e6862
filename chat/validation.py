"""Input rules for chat bodies: message content and session metadata."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from promptrails.errors import InvalidInput


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def clean_metadata(value: Any, field: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput({field: ["Must be a JSON object."]})
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > settings.METADATA_MAX_BYTES:
        raise InvalidInput(
            {field: [f"Must be at most {settings.METADATA_MAX_BYTES} bytes of JSON (got {size})."]}
        )
    if _depth(value) > settings.METADATA_MAX_DEPTH:
        limit = settings.METADATA_MAX_DEPTH
        raise InvalidInput({field: [f"Must nest at most {limit} levels."]})
    return value


def clean_content(body: Any) -> str:
    if not isinstance(body, dict):
        raise InvalidInput({"non_field_errors": ["The request body must be a JSON object."]})
    content = body.get("content")
    if content is None:
        raise InvalidInput({"content": ["This field is required."]})
    if not isinstance(content, str):
        raise InvalidInput({"content": ["Must be a string."]})
    if not content.strip():
        raise InvalidInput({"content": ["Must not be blank."]})
    if len(content) > settings.MAX_MESSAGE_CHARS:
        raise InvalidInput(
            {"content": [f"Must be at most {settings.MAX_MESSAGE_CHARS} characters."]}
        )
    return content


def clean_title(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput({"title": ["Must be a string."]})
    if len(value) > 255:
        raise InvalidInput({"title": ["Must be at most 255 characters."]})
    return value


def clean_user_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidInput({"user_id": ["Must be a string."]})
    value = str(value)
    if len(value) > 255:
        raise InvalidInput({"user_id": ["Must be at most 255 characters."]})
    return value
