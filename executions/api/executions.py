"""Executions (docs/api.md §5): output payload, its OpenAPI description (with the execute
and decision bodies), the REST views (list, get, tree, cancel, approve/deny, the approval
inbox) and the SSE follow/execute. Writes are ``executions.services``, ``agent_runs``
and ``approvals``; reads ``executions.selectors``."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from executions import approvals, runner, selectors
from executions.agent_runs import agent_execute_start
from executions.models import Execution, ExecutionStatus
from executions.services import execution_request_cancel
from executions.sse import last_event_id, sse_response
from promptrails.api.async_views import async_api, authenticate, json_data, read_json
from promptrails.api.formats import iso
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import documented_by, many, one, responses, sse_responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.db import run_db
from promptrails.errors import InvalidInput, NotFound

# --- output -------------------------------------------------------------------------------


def token_usage(execution: Execution) -> dict[str, int]:
    usage = {
        "prompt_tokens": execution.prompt_tokens,
        "completion_tokens": execution.completion_tokens,
        "total_tokens": execution.total_tokens,
    }
    if execution.cached_tokens:
        usage["cached_tokens"] = execution.cached_tokens
    if execution.reasoning_tokens:
        usage["reasoning_tokens"] = execution.reasoning_tokens
    return usage


def execution_data(execution: Execution, children: list[dict[str, Any]] | None = None,
                   ) -> dict[str, Any]:
    return {
        "id": execution.id,
        "agent_id": execution.agent_id,
        "agent_name": execution.agent_name,
        "agent_version_id": execution.agent_version_id,
        "workspace_id": execution.workspace_id,
        "user_id": str(execution.user_id) if execution.user_id is not None else None,
        "session_id": execution.session_id,
        "parent_execution_id": execution.parent_id,
        "status": execution.status,
        "input": execution.input,
        "output": execution.output,
        "error": execution.error,
        "metadata": execution.metadata,
        "model": execution.model,
        "token_usage": token_usage(execution),
        "total_tokens": execution.total_tokens,
        "cost": float(execution.cost or 0),
        "duration_ms": execution.duration_ms,
        "trace_id": execution.trace_id,
        "approval_expires_at": iso(execution.approval_expires_at),
        "children": children or [],
        "started_at": iso(execution.started_at),
        "completed_at": iso(execution.completed_at),
        "created_at": iso(execution.created_at),
        "updated_at": iso(execution.updated_at),
    }


# --- documentation ------------------------------------------------------------------------


def object_field(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(child=serializers.JSONField(), **kwargs)


class TokenUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField(required=False)
    reasoning_tokens = serializers.IntegerField(required=False)


class ExecutionSerializer(serializers.Serializer):
    id = serializers.CharField()
    agent_id = serializers.CharField(allow_null=True)
    agent_name = serializers.CharField(allow_blank=True)
    agent_version_id = serializers.CharField(allow_null=True)
    workspace_id = serializers.CharField()
    user_id = serializers.CharField(allow_null=True)
    session_id = serializers.CharField(allow_null=True)
    parent_execution_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=ExecutionStatus.values)
    input = serializers.JSONField()
    output = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True, allow_blank=True)
    metadata = object_field()
    model = serializers.CharField(allow_blank=True, allow_null=True)
    token_usage = TokenUsageSerializer()
    total_tokens = serializers.IntegerField()
    cost = serializers.FloatField()
    duration_ms = serializers.IntegerField(allow_null=True)
    trace_id = serializers.CharField(allow_blank=True, allow_null=True)
    approval_expires_at = serializers.DateTimeField(allow_null=True)
    children = serializers.ListField(
        child=object_field(),
        help_text="Child executions (same shape), filled in by the tree endpoint.")
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ExecuteResultSerializer(ExecutionSerializer):
    execution_id = serializers.CharField(help_text="Same as id.")


class ExecuteSerializer(serializers.Serializer):
    input = serializers.JSONField(required=False, help_text="A JSON object, or a string taken as "
                                                  '`{"message": <string>}`.')
    session_id = serializers.CharField(required=False, allow_null=True)
    version_id = serializers.CharField(required=False, allow_null=True)
    sync = serializers.BooleanField(required=False, default=True,
                          help_text="Wait for the run to end (default true).")


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, allow_null=True)


# --- views --------------------------------------------------------------------------------


class ExecutionListView(APIView):
    @extend_schema(
        operation_id="executions_list",
        parameters=doc_page_params(OpenApiParameter("agent_id", str),
                                   OpenApiParameter("session_id", str),
                                   OpenApiParameter("status", str, enum=ExecutionStatus.values)),
        responses=responses(many(ExecutionSerializer), 400),
        description="Newest first.",
    )
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = selectors.execution_list(workspace=request_workspace(request),
                                      params=request.query_params)
        items, page_meta = paginate(qs, params)
        return Response({"data": [execution_data(e) for e in items], "meta": page_meta})


class ApprovalInboxView(APIView):
    @extend_schema(operation_id="executions_approval_inbox", parameters=doc_page_params(),
                   responses=responses(many(ExecutionSerializer), 400))
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = selectors.execution_list(workspace=request_workspace(request), params={}).filter(
            status=ExecutionStatus.WAITING_APPROVAL
        )
        items, page_meta = paginate(qs, params)
        return Response({"data": [execution_data(e) for e in items], "meta": page_meta})


class ExecutionDetailView(APIView):
    @extend_schema(operation_id="executions_retrieve",
                   responses=responses(one(ExecutionSerializer), 404))
    def get(self, request: Request, execution_id: str) -> Response:
        execution = selectors.execution_get(workspace=request_workspace(request),
                                            execution_id=execution_id)
        return data(execution_data(execution))


class ExecutionTreeView(APIView):
    @extend_schema(operation_id="executions_tree",
                   responses=responses(one(ExecutionSerializer), 404),
                   description="The execution with a recursive `children` list.")
    def get(self, request: Request, execution_id: str) -> Response:
        execution = selectors.execution_get(workspace=request_workspace(request),
                                            execution_id=execution_id)
        return data(selectors.execution_tree(execution=execution))


class ExecutionCancelView(APIView):
    @extend_schema(operation_id="executions_cancel", request=None,
                   responses=responses(one(ExecutionSerializer), 400, 404),
                   description="Cooperative cancel; a finished execution is a 400.")
    def post(self, request: Request, execution_id: str) -> Response:
        execution = selectors.execution_get(workspace=request_workspace(request),
                                            execution_id=execution_id)
        if execution.status == ExecutionStatus.WAITING_APPROVAL and \
                approvals.execution_cancel_parked(execution=execution,
                                                  decided_by=approvals.actor(request.auth)):
            execution.refresh_from_db()
            return data(execution_data(execution))  # parked: nothing runs, it ends now
        execution = execution_request_cancel(execution=execution)
        async_to_sync(runner.request_cancel)(execution.id)
        execution.refresh_from_db()
        return data(execution_data(execution))


class ExecutionDecisionView(APIView):
    """approve / deny the pending tool call of a parked execution; the run resumes as a
    task of this process (the decision is a conditional UPDATE: exactly one wins)."""

    approved = True

    @extend_schema(request=DecisionSerializer,
                   responses=responses(one(ExecutionSerializer), 404, body=True),
                   description="Only for an execution in `waiting_approval` (else 400; a "
                               "second decision is 400 \"already decided\"); the run "
                               "resumes (denied: the model is told the call was denied).")
    def post(self, request: Request, execution_id: str) -> Response:
        execution = selectors.execution_get(workspace=request_workspace(request),
                                            execution_id=execution_id)
        reason = approvals.clean_reason(request.data if isinstance(request.data, dict) else {})
        approval = approvals.approval_of_execution(execution=execution)
        spec = approvals.approval_decide(approval=approval, approved=self.approved,
                                         reason=reason, decided_by=approvals.actor(request.auth))
        if spec is not None:
            approvals.start_resumed(spec)
        execution.refresh_from_db()
        return data(execution_data(execution))


class ExecutionDenyView(ExecutionDecisionView):
    approved = False


class _ExecutionStreamDoc(APIView):
    """OpenAPI only (never routed): `execution_stream`."""

    @extend_schema(
        operation_id="executions_stream",
        parameters=[
            OpenApiParameter("Last-Event-ID", int, OpenApiParameter.HEADER,
                             description="Resume after this sequence number."),
            OpenApiParameter("last_event_id", int,
                             description="Same as the Last-Event-ID header."),
        ],
        responses=sse_responses(404),
        description="Replays every event so far, follows live, closes after the terminal "
                    "event.",
    )
    def get(self, request: Request, execution_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


class _AgentExecuteDoc(APIView):
    """OpenAPI only (never routed): `agent_execute`."""

    @extend_schema(
        operation_id="agents_execute", request=ExecuteSerializer,
        responses=responses(one(ExecuteResultSerializer), 404, body=True),
        description="Run the agent once; with `sync` false, returns at once (pending/running).",
    )
    def post(self, request: Request, agent_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


@documented_by(_ExecutionStreamDoc)
@async_api({"GET"})
async def execution_stream(request: HttpRequest, execution_id: str) -> HttpResponseBase:
    auth = await authenticate(request)
    exists = await run_db(
        lambda: Execution.objects.filter(pk=execution_id, workspace=auth.workspace).exists()
    )
    if not exists:
        raise NotFound("execution")
    after = last_event_id(request.headers.get("Last-Event-ID"),
                          request.GET.get("last_event_id"))
    return sse_response(execution_id, after=after)


@documented_by(_AgentExecuteDoc)
@async_api({"POST"})
async def agent_execute(request: HttpRequest, agent_id: str) -> HttpResponseBase:
    auth = await authenticate(request)
    body = read_json(request)
    sync = body.get("sync", True)
    if not isinstance(sync, bool):
        raise InvalidInput({"sync": ["Must be a boolean."]}, message="sync must be a boolean.")
    user_id = auth.user.pk if auth.user is not None else None
    started = await runner.start_turn(run_db(
        agent_execute_start, workspace=auth.workspace, agent_id=agent_id, body=body,
        user_id=user_id))
    local = runner.local_run(started.execution_id)
    if sync and local is not None:
        await asyncio.shield(local.done.wait())
    execution = await run_db(Execution.objects.get, pk=started.execution_id)
    payload = execution_data(execution)
    payload["execution_id"] = execution.id
    return json_data(payload)
