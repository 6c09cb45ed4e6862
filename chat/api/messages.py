"""Messages of a session (docs/api.md §3): output payloads (a message, the hybrid send
result), their OpenAPI description (with the send body; content is checked by
``chat.validation``), and the history view. Sending a message starts a turn: those views
are in ``turns.py``. Reads are ``chat.selectors``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors
from chat.api.common import object_field
from chat.models import Message
from promptrails.api.formats import iso
from promptrails.api.pagination import meta, page_params, paginate
from promptrails.api.schema import many, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import request_workspace
from promptrails.errors import InvalidInput

# --- output --------------------------------------------------------------------------------


def message_data(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "session_id": message.session_id,
        "role": message.role,
        "content": message.content,
        "metadata": message.metadata,
        "tool_calls": message.tool_calls,
        "tool_results": message.tool_results,
        "model": message.model or None,
        "cost": float(message.cost or 0),
        "token_count": message.token_count,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "execution_id": message.execution_id,
        "created_at": iso(message.created_at),
    }




def send_data(user_message: Message, assistant: Message | None) -> dict[str, Any]:
    """The hybrid 201 body: the reply's fields at the top, plus both messages."""
    user = message_data(user_message)
    reply = message_data(assistant) if assistant is not None else None
    top = dict(reply) if reply is not None else {**user, "id": None, "role": "assistant",
                                                   "content": ""}
    top.update({"execution_id": user_message.execution_id, "user_message": user,
                "assistant_message": reply})
    return top


# --- documentation -------------------------------------------------------------------------


class MessageSerializer(serializers.Serializer):
    id = serializers.CharField()
    session_id = serializers.CharField()
    role = serializers.ChoiceField(choices=Message.Role.values)
    content = serializers.CharField(allow_blank=True)
    metadata = object_field()
    tool_calls = serializers.JSONField(allow_null=True)
    tool_results = serializers.JSONField(allow_null=True)
    model = serializers.CharField(allow_null=True)
    cost = serializers.FloatField()
    token_count = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    execution_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class SendResultSerializer(MessageSerializer):
    """The hybrid send result: the reply's fields at the top, plus both messages."""

    id = serializers.CharField(allow_null=True,
                               help_text="The reply's id (null when there is none).")
    user_message = MessageSerializer()
    assistant_message = MessageSerializer(allow_null=True)
    status = serializers.CharField(required=False, help_text=(
        "Only when the turn waits for approval of a tool call: `waiting_approval` (no reply "
        "yet; it is stored when the run ends)."))


class SendSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=settings.MAX_MESSAGE_CHARS,
                          help_text="Not empty or whitespace-only.")




MESSAGE_PAGE_PARAMS = [
    OpenApiParameter("after", str, description="Cursor: messages after this message id."),
    OpenApiParameter("before", str, description="Cursor: messages before this message id."),
]

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER,
    description="A retry with the same key and body returns (or attaches to) the same turn.",
)

SEND_ERRORS = (404, 409)


# --- views ---------------------------------------------------------------------------------


class MessageListView(APIView):
    """GET lists messages (oldest first; page/limit or after/before cursors)."""

    @extend_schema(
        operation_id="chat_messages_list",
        parameters=doc_page_params(*MESSAGE_PAGE_PARAMS),
        responses=responses(many(MessageSerializer), 400, 404),
        description="Oldest first; page/limit, or cursor paging with after/before.",
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(workspace=request_workspace(request),
                                        session_id=session_id)
        params = page_params(request.query_params)
        after, before = request.query_params.get("after"), request.query_params.get("before")
        if after and before:
            raise InvalidInput({"after": ["Use either after or before, not both."]})
        if after or before:
            items, more = selectors.message_cursor(session=session, after=after, before=before,
                                                   limit=params.limit)
            total = selectors.message_list(session=session).count()
            return Response({"data": [message_data(m) for m in items],
                             "meta": {**meta(total, params), "page": 1, "has_more": more}})
        items, page_meta = paginate(selectors.message_list(session=session), params)
        return Response({"data": [message_data(m) for m in items], "meta": page_meta})
