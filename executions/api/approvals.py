"""Approvals, the v1 routes the official clients call (docs/api.md §10: `GET /approvals`,
`GET /approvals/{id}`, `POST /approvals/{id}/decide`): output payload, its OpenAPI
description, the views. Workspace-scoped (another workspace's ids are 404), a second
decision is 400. Deciding is ``executions.approvals``; the list is
``executions.selectors.approval_list``. The v2 approve/deny routes are execution actions
(``executions.py``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as S
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from executions import approvals, selectors
from executions.models import Approval
from promptrails.api.formats import iso
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.errors import InvalidInput

STATUSES = selectors.APPROVAL_STATUSES


# --- output -------------------------------------------------------------------------------


def approval_data(approval: Approval) -> dict[str, Any]:
    tool = {"id": approval.tool_call_id, "name": approval.tool_name,
            "arguments": approval.arguments}
    return {
        "id": approval.id, "execution_id": approval.execution_id,
        "agent_id": approval.agent_id, "workspace_id": approval.workspace_id,
        "session_id": approval.session_id, "checkpoint_name": approval.tool_name,
        "tool": tool, "payload": {"tool": tool}, "status": approval.status,
        "reason": approval.reason, "decided_by": approval.decided_by or None,
        "decided_at": iso(approval.decided_at), "expires_at": iso(approval.expires_at),
        "created_at": iso(approval.created_at),
    }


# --- documentation ------------------------------------------------------------------------


class ToolCallSerializer(S.Serializer):
    id = S.CharField()
    name = S.CharField()
    arguments = S.DictField(child=S.JSONField())


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
    workspace_id = S.CharField()
    session_id = S.CharField(allow_null=True)
    tool = ToolCallSerializer()
    decided_by = S.CharField(allow_null=True)
    expires_at = S.DateTimeField()


class ApprovalDecisionSerializer(S.Serializer):
    decision = S.ChoiceField(choices=["approved", "rejected"])
    reason = S.CharField(required=False, allow_blank=True)


# --- views --------------------------------------------------------------------------------


class ApprovalListView(APIView):
    @extend_schema(operation_id="approvals_list",
                   parameters=doc_page_params(OpenApiParameter("status", str, enum=STATUSES)),
                   responses=responses(many(ApprovalSerializer), 400),
                   description="Approvals of the workspace, newest first.")
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = selectors.approval_list(workspace=request_workspace(request),
                                     status=request.query_params.get("status") or None)
        items, page_meta = paginate(qs, params)
        return Response({"data": [approval_data(a) for a in items],
                         "meta": page_meta})


class ApprovalDetailView(APIView):
    @extend_schema(operation_id="approvals_retrieve",
                   responses=responses(one(ApprovalSerializer), 404))
    def get(self, request: Request, approval_id: str) -> Response:
        approval = approvals.approval_get(workspace=request_workspace(request),
                                          approval_id=approval_id)
        return data(approval_data(approval))


class ApprovalDecideView(APIView):
    @extend_schema(operation_id="approvals_decide", request=ApprovalDecisionSerializer,
                   responses=responses(one(ApprovalSerializer), 404, body=True),
                   description="Decide a pending approval (a second decision is a 400); the "
                               "parked run resumes.")
    def post(self, request: Request, approval_id: str) -> Response:
        approval = approvals.approval_get(workspace=request_workspace(request),
                                          approval_id=approval_id)
        body = request.data if isinstance(request.data, dict) else {}
        decision = body.get("decision")
        if decision not in ("approved", "rejected"):
            raise InvalidInput({"decision": ['Must be "approved" or "rejected".']})
        spec = approvals.approval_decide(approval=approval, approved=decision == "approved",
                                         reason=approvals.clean_reason(body),
                                         decided_by=approvals.actor(request.auth))
        if spec is not None:
            approvals.start_resumed(spec)
        return data(approval_data(approval))
