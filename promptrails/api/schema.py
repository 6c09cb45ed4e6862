"""OpenAPI documentation (drf-spectacular): envelopes, error responses, auth schemes.

Documentation only: the views build their JSON by hand; the serializers here describe it.
Each app's ``schema.py`` describes its own objects with these helpers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from promptrails.api.pagination import MAX_LIMIT

F = TypeVar("F", bound=Callable[..., Any])

ERROR_DESCRIPTIONS = {
    400: "validation_error: `details` maps each field to its messages (every operation: a "
         "query parameter or header holding a NUL character).",
    401: "unauthorized: a missing, unknown or revoked API key.",
    403: "forbidden: a session without access to the workspace, or a CSRF failure.",
    404: "not_found: no such object in the workspace.",
    405: "method_not_allowed.",
    409: "session_busy: a turn is already running in the session (see Retry-After), "
         "or idempotency_conflict.",
    413: "payload_too_large: the request body is over the configured size.",
    429: "rate_limited: see Retry-After and X-RateLimit-* headers.",
    502: "upstream_error: the model provider failed; `details` names what was stored.",
}


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="snake_case error code")
    message = serializers.CharField()
    details = serializers.DictField(child=serializers.JSONField())


class ErrorSerializer(serializers.Serializer):
    """The error envelope: `{"error": {"code", "message", "details"}}`."""

    error = ErrorBodySerializer()


class PageMetaSerializer(serializers.Serializer):
    total = serializers.IntegerField(min_value=0)
    page = serializers.IntegerField(min_value=1)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT)
    pages = serializers.IntegerField(min_value=0)
    total_pages = serializers.IntegerField(min_value=0)
    has_more = serializers.BooleanField(required=False,
                                        help_text="Only with after/before cursor paging.")


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[s])
            for s in statuses}


EVERY_OPERATION = (400, 401, 403, 429)
"""Errors any API operation can return: a query parameter or header the database cannot store
(promptrails.storable_requests, before routing), then authentication and rate limits."""


def responses(ok: Any, *statuses: int, status: int = 200, body: bool = False,
              ) -> dict[int, Any]:
    """`ok` at `status`, plus the error envelope at each given status, the errors every API
    operation can return, and 413 when it reads a body."""
    extra = set(statuses) | set(EVERY_OPERATION) | ({413} if body else set())
    return {status: ok, **errors(*sorted(extra))}


SSE_EVENTS = ("execution", "thinking", "tool_start", "tool_end", "content", "done", "error")


class ServerSentEventSerializer(serializers.Serializer):
    """One event of a `text/event-stream` body (OpenAPI 3.0: the schema describes each event,
    as `itemSchema` does in 3.2). Frames are `id:`, `event:`, one `data:` line; LF endings;
    `: keepalive` comments every 15 s while idle."""

    id = serializers.RegexField(r"^[0-9]+$", help_text="Sequence number within the execution "
                                                      "(for Last-Event-ID).")
    event = serializers.ChoiceField(choices=SSE_EVENTS)
    data = serializers.CharField(help_text="A compact JSON object whose `type` is the event name: "
                                           "execution {execution_id, user_message_id}; thinking "
                                           "{content}; tool_start {id, name}; tool_end {id, name, "
                                           "summary}; content {content}; done {output, "
                                           "token_usage, time}; error {message, error}.",
                                 )  # type: ignore[assignment]  # a field named like .data


def sse_responses(*statuses: int, body: bool = False) -> dict[Any, Any]:
    """A `text/event-stream` 200 (docs/api.md §4) plus the JSON errors known before it starts."""
    ok = OpenApiResponse(ServerSentEventSerializer, description=(
        "Server-Sent Events, ending after the terminal `done` or `error` event."))
    errs = {k: v for k, v in responses(None, *statuses, body=body).items() if k != 200}
    return {(200, "text/event-stream"): ok, **errs}


@functools.cache
def one(serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """`{"data": {...}}` around one object."""
    name = serializer.__name__.removesuffix("Serializer")
    return inline_serializer(f"{name}Response", fields={"data": serializer()})


@functools.cache
def many(serializer: type[serializers.Serializer], paged: bool = True,
         ) -> serializers.Serializer:
    """`{"data": [...], "meta": {...}}` (or without meta when not paged)."""
    name = serializer.__name__.removesuffix("Serializer")
    fields: dict[str, serializers.Field] = {"data": serializer(many=True)}
    if paged:
        fields["meta"] = PageMetaSerializer()
        return inline_serializer(f"{name}Page", fields=fields)
    return inline_serializer(f"{name}ListResponse", fields=fields)


PAGE_PARAMS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1},
                     description="1-based page number (default 1)."),
    OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                     description=f"Page size, 1–{MAX_LIMIT} (default 20)."),
]


def page_params(*filters: OpenApiParameter) -> list[OpenApiParameter]:
    return [*PAGE_PARAMS, *filters]


def strings(*names: str) -> list[OpenApiParameter]:
    return [OpenApiParameter(name, str) for name in names]


def documented_by(doc_view: type) -> Callable[[F], F]:
    """Let drf-spectacular describe a plain (async) Django view through a DRF view class
    that is never routed: the schema generator reads ``callback.cls``; Django ignores it."""

    def attach(view: F) -> F:
        view.cls = doc_view  # type: ignore[attr-defined]
        view.initkwargs = {}  # type: ignore[attr-defined]
        return view

    return attach


# --- authentication schemes -------------------------------------------------------------


class ApiKeyAuthScheme(OpenApiAuthenticationExtension):
    target_class = "promptrails.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"
    priority = 1

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key",
                "description": "`pr_live_…`: names one workspace."}


class WorkspaceSessionScheme(OpenApiAuthenticationExtension):
    target_class = "promptrails.api.authentication.WorkspaceSessionAuthentication"
    name = "SessionAuth"
    priority = 1

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME,
                "description": "Django session of a workspace member (CSRF enforced on "
                               "unsafe methods; `X-Workspace-ID` picks the workspace)."}
