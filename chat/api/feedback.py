"""Feedback on a session's replies (docs/api.md §3): output payload, its OpenAPI
description (with the request body), the view. Writes are ``chat.services``, reads
``chat.selectors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, services
from chat.api.common import body_of
from chat.models import Feedback
from promptrails.api.formats import iso
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace

# --- output --------------------------------------------------------------------------------


def feedback_data(feedback: Feedback) -> dict[str, Any]:
    return {
        "execution_id": feedback.execution_id,
        "value": feedback.value,
        "created_at": iso(feedback.created_at),
        "updated_at": iso(feedback.updated_at),
    }


# --- documentation -------------------------------------------------------------------------


class FeedbackSerializer(serializers.Serializer):
    execution_id = serializers.CharField(help_text="An execution of this session (404 otherwise).")
    value = serializers.ChoiceField(choices=[1, -1])


class FeedbackResultSerializer(serializers.Serializer):
    submitted = serializers.BooleanField()


class FeedbackItemSerializer(serializers.Serializer):
    execution_id = serializers.CharField()
    value = serializers.ChoiceField(choices=[1, -1])
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


# --- views ---------------------------------------------------------------------------------


class FeedbackView(APIView):
    @extend_schema(operation_id="chat_feedback_list", parameters=doc_page_params(),
                   responses=responses(many(FeedbackItemSerializer), 400, 404),
                   description="The session's feedback, one per execution, oldest first.")
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(workspace=request_workspace(request),
                                        session_id=session_id)
        items, page_meta = paginate(selectors.feedback_list(session=session),
                                    page_params(request.query_params))
        return Response({"data": [feedback_data(f) for f in items], "meta": page_meta})

    @extend_schema(operation_id="chat_feedback_submit", request=FeedbackSerializer,
                   responses=responses(one(FeedbackResultSerializer), 404, body=True),
                   description="Upsert per (session, execution).")
    def post(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(workspace=request_workspace(request),
                                        session_id=session_id)
        body = body_of(request)
        services.feedback_submit(session=session, execution_id=body.get("execution_id"),
                                 value=body.get("value"))
        return data({"submitted": True})
