"""Execution REST views (list, get, tree, cancel, approvals) and the SSE follow/execute."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from executions import approvals, runner, selectors
from executions import schema as docs
from executions.agent_runs import agent_execute_start
from executions.models import Execution, ExecutionStatus
from executions.serializers import execution_data
from executions.services import execution_request_cancel
from executions.sse import last_event_id, sse_response
from promptrails.api.async_views import async_api, authenticate, json_data, read_json
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import documented_by, many, one, responses, sse_responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.db import run_db
from promptrails.errors import InvalidInput, NotFound


class ExecutionListView(APIView):
    @extend_schema(
        operation_id="executions_list",
        parameters=doc_page_params(OpenApiParameter("agent_id", str),
                                   OpenApiParameter("session_id", str),
                                   OpenApiParameter("status", str, enum=ExecutionStatus.values)),
        responses=responses(many(docs.ExecutionSerializer), 400),
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
                   responses=responses(many(docs.ExecutionSerializer), 400))
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = selectors.execution_list(workspace=request_workspace(request), params={}).filter(
            status=ExecutionStatus.WAITING_APPROVAL
        )
        items, page_meta = paginate(qs, params)
        return Response({"data": [execution_data(e) for e in items], "meta": page_meta})


class ExecutionDetailView(APIView):
    @extend_schema(operation_id="executions_retrieve",
                   responses=responses(one(docs.ExecutionSerializer), 404))
    def get(self, request: Request, execution_id: str) -> Response:
        execution = selectors.execution_get(workspace=request_workspace(request),
                                            execution_id=execution_id)
        return data(execution_data(execution))


class ExecutionTreeView(APIView):
    @extend_schema(operation_id="executions_tree",
                   responses=responses(one(docs.ExecutionSerializer), 404),
                   description="The execution with a recursive `children` list.")
    def get(self, request: Request, execution_id: str) -> Response:
        execution = selectors.execution_get(workspace=request_workspace(request),
                                            execution_id=execution_id)
        return data(selectors.execution_tree(execution=execution))


class ExecutionCancelView(APIView):
    @extend_schema(operation_id="executions_cancel", request=None,
                   responses=responses(one(docs.ExecutionSerializer), 400, 404),
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

    @extend_schema(request=docs.DecisionSerializer,
                   responses=responses(one(docs.ExecutionSerializer), 404, body=True),
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
        operation_id="agents_execute", request=docs.ExecuteSerializer,
        responses=responses(one(docs.ExecuteResultSerializer), 404, body=True),
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
