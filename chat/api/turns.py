"""Sending a message starts a turn: non-streaming (waits for the reply) and streaming (SSE).

Async views; the message payloads and their OpenAPI description are in ``messages.py``.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import services
from chat.api import messages as docs
from chat.api.messages import MessageListView, send_data
from chat.models import Message
from chat.validation import clean_content
from executions import runner
from executions.follow import follow
from executions.models import Execution, ExecutionStatus
from executions.sse import sse_response
from promptrails.api.async_views import async_api, authenticated, json_data, read_json
from promptrails.api.schema import documented_by, one, responses, sse_responses
from promptrails.db import run_db
from promptrails.errors import DomainError, UpstreamError
from promptrails.tenancy import WorkspaceAuth

SEND_ERRORS = (404, 409)


class _MessagesDoc(MessageListView):
    """OpenAPI only (never routed): GET is MessageListView; POST is `send_message`."""

    @extend_schema(
        operation_id="chat_messages_send", request=docs.SendSerializer,
        parameters=[docs.IDEMPOTENCY],
        responses=responses(one(docs.SendResultSerializer), *SEND_ERRORS, 502, status=201,
                            body=True),
        description="Send a message and wait for the reply.",
    )
    def post(self, request: Request, session_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


class _SendStreamDoc(APIView):
    """OpenAPI only (never routed): `send_message_stream`."""

    @extend_schema(
        operation_id="chat_messages_stream", request=docs.SendSerializer,
        parameters=[docs.IDEMPOTENCY], responses=sse_responses(*SEND_ERRORS, body=True),
        description="Send a message and stream the turn as Server-Sent Events (docs/api.md §4).",
    )
    def post(self, request: Request, session_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


async def _start(request: HttpRequest, session_id: str) -> services.Turn:
    invalid: DomainError | None = None
    try:  # read before the trip to the database; reported only to an authenticated caller
        content = clean_content(read_json(request))
        key = services.clean_idempotency_key(request.headers.get("Idempotency-Key"))
    except DomainError as exc:
        invalid = exc

    def begin(auth: WorkspaceAuth) -> services.Turn:
        if invalid is not None:
            raise invalid
        return services.turn_start(
            workspace=auth.workspace, session_id=session_id, content=content,
            user_id=auth.user.pk if auth.user is not None else None, idempotency_key=key,
        )

    return await runner.start_turn(authenticated(request, begin))


async def _until_finished(execution_id: str) -> None:
    """Wait for the turn to end, wherever it runs (an idempotent retry may attach to it)."""
    local = runner.local_run(execution_id)
    if local is not None:
        # shield: a client that goes away does not cancel the turn
        await asyncio.shield(local.done.wait())
        return
    async for event in follow(execution_id):
        if event.get("type") in ("done", "error", "approval_required"):
            return  # a parked run answers now; its reply is stored when it ends


@async_api({"POST"})
async def send_message(request: HttpRequest, session_id: str) -> HttpResponseBase:
    turn = await _start(request, session_id)
    await _until_finished(turn.execution_id)
    reply = await run_db(
        lambda: Message.objects.filter(execution_id=turn.execution_id, role="assistant")
        .order_by("-id").first()
    )
    ended = await run_db(
        lambda: Execution.objects.filter(pk=turn.execution_id).values("status", "error").first()
    )
    if ended is not None and ended["status"] == ExecutionStatus.FAILED:
        # The provider failed (docs/api.md §1: upstream_error); what was stored is in details.
        raise UpstreamError(
            f"The model failed: {ended['error'] or 'unknown error'}",
            details={"execution_id": turn.execution_id,
                     "user_message_id": turn.user_message.id,
                     "assistant_message_id": reply.id if reply is not None else None},
        )
    body = send_data(turn.user_message, reply)
    if ended is not None and ended["status"] == ExecutionStatus.WAITING_APPROVAL:
        body["status"] = ExecutionStatus.WAITING_APPROVAL  # no reply yet: it waits for a person
    return json_data(body, status=201)


@documented_by(_SendStreamDoc)
@async_api({"POST"})
async def send_message_stream(request: HttpRequest, session_id: str) -> HttpResponseBase:
    turn = await _start(request, session_id)
    return sse_response(turn.execution_id)


_list_messages = MessageListView.as_view()


@documented_by(_MessagesDoc)
@async_api({"GET", "POST"})
async def messages(request: HttpRequest, session_id: str) -> HttpResponseBase:
    """GET lists the history (DRF, sync); POST sends a message and waits for the reply."""
    if request.method == "GET":
        return await sync_to_async(_list_messages)(request, session_id=session_id)
    return await send_message(request, session_id)
