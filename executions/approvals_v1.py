"""The v1 approval routes the official clients call (docs/api.md §10: `GET /approvals`,
`GET /approvals/{id}`, `POST /approvals/{id}/decide`), answering like real routes until
approvals exist: authenticated and workspace-scoped like every route, an empty page, and
404 for any id. To be replaced by the approvals feature; nothing else depends on it."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as S
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from promptrails.api.errors import NotFound
from promptrails.api.pagination import meta, page_params
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params

STATUSES = ["pending", "approved", "rejected", "expired"]


class ApprovalSerializer(S.Serializer):
    id = S.CharField()
    execution_id = S.CharField()
    agent_id = S.CharField(allow_null=True)
    checkpoint_name = S.CharField(allow_blank=True)
    payload = S.DictField(child=S.JSONField())
    status = S.CharField(help_text="pending, approved, rejected or expired.")
    reason = S.CharField(allow_null=True)
    decided_at = S.DateTimeField(allow_null=True)
    created_at = S.DateTimeField()


class ApprovalDecisionSerializer(S.Serializer):
    decision = S.ChoiceField(choices=["approved", "rejected"])
    reason = S.CharField(required=False, allow_blank=True)


class ApprovalListView(APIView):
    @extend_schema(operation_id="approvals_list",
                   parameters=doc_page_params(OpenApiParameter("status", str, enum=STATUSES)),
                   responses=responses(many(ApprovalSerializer), 400),
                   description="Approvals of the workspace (none yet: tools cannot ask).")
    def get(self, request: Request) -> Response:
        return Response({"data": [], "meta": meta(0, page_params(request.query_params))})


class ApprovalDetailView(APIView):
    @extend_schema(operation_id="approvals_retrieve",
                   responses=responses(one(ApprovalSerializer), 404))
    def get(self, request: Request, approval_id: str) -> Response:
        raise NotFound("Approval not found.")


class ApprovalDecideView(APIView):
    @extend_schema(operation_id="approvals_decide", request=ApprovalDecisionSerializer,
                   responses=responses(one(ApprovalSerializer), 404, body=True))
    def post(self, request: Request, approval_id: str) -> Response:
        raise NotFound("Approval not found.")


urlpatterns = [
    path("approvals", ApprovalListView.as_view()),
    path("approvals/<str:approval_id>", ApprovalDetailView.as_view()),
    path("approvals/<str:approval_id>/decide", ApprovalDecideView.as_view()),
]
