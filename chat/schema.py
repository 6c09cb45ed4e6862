"""OpenAPI descriptions of the chat objects and bodies (documentation only).

The views validate by hand (chat.validation); these serializers only describe the wire.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers as S

from chat.models import Message


def _object(**kwargs: Any) -> S.DictField:
    return S.DictField(child=S.JSONField(), **kwargs)


class SessionSummarySerializer(S.Serializer):
    id = S.CharField()
    content = S.CharField(help_text="Sent instead of the messages it covers.")
    covers_until_message_id = S.CharField(
        help_text="The newest message folded into the summary.")
    messages_folded = S.IntegerField(help_text="Messages folded by the last summarizer call.")
    created_at = S.DateTimeField()


class SessionSerializer(S.Serializer):
    id = S.CharField()
    workspace_id = S.CharField()
    agent_id = S.CharField(allow_null=True)
    user_id = S.CharField(allow_null=True)
    title = S.CharField(allow_blank=True)
    metadata = _object()
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField(help_text="Moves on every new message.")
    summary = SessionSummarySerializer(
        allow_null=True, help_text="The current rolling summary of the older messages "
                                   "(agent versions with context strategy \"summary\").")


class SessionCreateSerializer(S.Serializer):
    agent_id = S.CharField(help_text="An agent of the same workspace (404 otherwise).")
    title = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    metadata = _object(required=False, allow_null=True,
                       help_text=f"At most {settings.METADATA_MAX_BYTES} bytes of JSON, "
                                 f"{settings.METADATA_MAX_DEPTH} levels deep.")
    user_id = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)


class SessionUpdateSerializer(S.Serializer):
    title = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    metadata = _object(required=False, allow_null=True)


class MessageSerializer(S.Serializer):
    id = S.CharField()
    session_id = S.CharField()
    role = S.ChoiceField(choices=Message.Role.values)
    content = S.CharField(allow_blank=True)
    metadata = _object()
    tool_calls = S.JSONField(allow_null=True)
    tool_results = S.JSONField(allow_null=True)
    model = S.CharField(allow_null=True)
    cost = S.FloatField()
    token_count = S.IntegerField()
    prompt_tokens = S.IntegerField()
    completion_tokens = S.IntegerField()
    execution_id = S.CharField(allow_null=True)
    created_at = S.DateTimeField()


class SendResultSerializer(MessageSerializer):
    """The hybrid send result: the reply's fields at the top, plus both messages."""

    id = S.CharField(allow_null=True, help_text="The reply's id (null when there is none).")
    user_message = MessageSerializer()
    assistant_message = MessageSerializer(allow_null=True)
    status = S.CharField(required=False, help_text=(
        "Only when the turn waits for approval of a tool call: `waiting_approval` (no reply "
        "yet; it is stored when the run ends)."))


class SendSerializer(S.Serializer):
    content = S.CharField(max_length=settings.MAX_MESSAGE_CHARS,
                          help_text="Not empty or whitespace-only.")


class FeedbackSerializer(S.Serializer):
    execution_id = S.CharField(help_text="An execution of this session (404 otherwise).")
    value = S.ChoiceField(choices=[1, -1])


class FeedbackResultSerializer(S.Serializer):
    submitted = S.BooleanField()


class FeedbackItemSerializer(S.Serializer):
    execution_id = S.CharField()
    value = S.ChoiceField(choices=[1, -1])
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class WsTicketSerializer(S.Serializer):
    ticket = S.CharField()
    expires_at = S.DateTimeField()


MESSAGE_PAGE_PARAMS = [
    OpenApiParameter("after", str, description="Cursor: messages after this message id."),
    OpenApiParameter("before", str, description="Cursor: messages before this message id."),
]

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER,
    description="A retry with the same key and body returns (or attaches to) the same turn.",
)

SEND_ERRORS = (404, 409)
