"""OpenAPI descriptions of the browser chat API (documentation only; docs/api.md §10).

Its routes are not authenticated like the management API: the token exchange takes a
browser key, every other route a bearer from it (and, for a session, its resume token).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers as S
from rest_framework.authentication import BaseAuthentication

from chat.models import Message


class BrowserKeyAuthentication(BaseAuthentication):
    """Documentation only: the views authenticate by hand (browser.access)."""

    def authenticate(self, request: Any) -> None:  # pragma: no cover - never routed
        return None


class BrowserBearerAuthentication(BaseAuthentication):
    """Documentation only: the views authenticate by hand (browser.access)."""

    def authenticate(self, request: Any) -> None:  # pragma: no cover - never routed
        return None


class BrowserKeyScheme(OpenApiAuthenticationExtension):
    target_class = "browser.schema.BrowserKeyAuthentication"
    name = "BrowserKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key",
                "description": "`pr_browser_…`: a browser-only key, sent only to the token "
                               "exchange, from one of its origins."}


class BrowserBearerScheme(OpenApiAuthenticationExtension):
    target_class = "browser.schema.BrowserBearerAuthentication"
    name = "BrowserBearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer",
                "description": "The chat token of POST /api/v1/browser/chat/token "
                               f"({settings.BROWSER_TOKEN_SECONDS} s), from the same origin."}


RESUME_TOKEN = OpenApiParameter(
    "X-Chat-Resume-Token", str, OpenApiParameter.HEADER, required=True,
    description="The session's resume token (from its creation), bound to the key and origin.",
)
ORIGIN = OpenApiParameter(
    "Origin", str, OpenApiParameter.HEADER, required=True,
    description="Sent by the browser; must be one of the browser key's origins.",
)


class TokenRequestSerializer(S.Serializer):
    agent_id = S.CharField(help_text="One of the browser key's agents (403 otherwise).")


class TokenSerializer(S.Serializer):
    access_token = S.CharField()
    token_type = S.CharField(help_text="Always `Bearer`.")
    expires_in = S.IntegerField(help_text="Seconds.")


class BrowserSessionCreateSerializer(S.Serializer):
    agent_id = S.CharField(help_text="The chat token's agent (403 otherwise).")
    title = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    metadata = S.DictField(child=S.JSONField(), required=False, allow_null=True,
                           help_text='Default `{"channel": "browser_widget"}`.')
    visitor_tracking = S.BooleanField(required=False,
                                      help_text="Return (and reuse) an anonymous visitor id.")
    visitor_id = S.CharField(required=False, help_text="A visitor id returned earlier.")


class BrowserSessionSerializer(S.Serializer):
    id = S.CharField()
    agent_id = S.CharField()
    title = S.CharField(allow_blank=True)
    metadata = S.DictField(child=S.JSONField())
    created_at = S.DateTimeField()
    resume_token = S.CharField(help_text="Shown once; only its hash is stored.")
    visitor_id = S.CharField(required=False, help_text="Only with visitor_tracking.")


class BrowserMessageSerializer(S.Serializer):
    id = S.CharField()
    session_id = S.CharField()
    role = S.ChoiceField(choices=Message.Role.values)
    content = S.CharField(allow_blank=True)
    metadata = S.DictField(child=S.JSONField(),
                           help_text="`execution_id` (for feedback), `incomplete` when a "
                                     "reply was cut short.")
    execution_id = S.CharField(allow_null=True)
    created_at = S.DateTimeField()


class BrowserSendSerializer(S.Serializer):
    content = S.CharField(max_length=settings.MAX_MESSAGE_CHARS)
    client_context = S.DictField(
        child=S.JSONField(), required=False, allow_null=True,
        help_text="Page context: the prompt templates' `context` variable, stored apart from "
                  "the message as untrusted data.")
    idempotency_key = S.CharField(required=False, max_length=255,
                                  help_text="A retry with the same key and body attaches to "
                                            "the same turn.")


BROWSER_MESSAGE_PARAMS = [
    OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 100},
                     description="How many of the newest messages (default 50)."),
    OpenApiParameter("before", str, description="Cursor: messages before this message id."),
]
