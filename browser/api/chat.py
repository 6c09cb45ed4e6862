"""The browser chat API (docs/api.md §10): a second edge on the chat services.

Thin: each view authenticates (browser.access: a browser key, or a bearer and a resume
token), validates, and calls the services every other edge calls — a turn is
chat.services.turn_start, run by executions.runner and streamed by executions.sse, exactly
like POST /chat/sessions/{id}/messages/stream.

This module is the whole resource, like every ``<app>/api/<resource>.py``: the OpenAPI
description (the routes are not authenticated like the management API: the token
exchange takes a browser key, every other route a bearer from it and, for a session, its
resume token) and the views. What a page sees of a message is
``browser.selectors.browser_message_data``; writes are ``browser.services``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as S
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from browser import access, selectors, services, tokens
from browser.access import Caller
from browser.routes import browser_api
from browser.streams import until_revoked
from chat.api import feedback as chat_docs
from chat.models import Message
from chat.services import Turn, clean_idempotency_key, feedback_submit
from chat.validation import clean_content, clean_metadata, clean_title
from executions import runner
from executions.sse import sse_response
from promptrails.api.async_views import json_data, read_json
from promptrails.api.formats import iso
from promptrails.api.pagination import MAX_LIMIT
from promptrails.api.schema import documented_by, many, one, responses, sse_responses
from promptrails.db import run_db
from promptrails.errors import DomainError, InvalidInput

# --- documentation ------------------------------------------------------------------------


class BrowserKeyAuthentication(BaseAuthentication):
    """Documentation only: the views authenticate by hand (browser.access)."""

    def authenticate(self, request: Any) -> None:  # pragma: no cover - never routed
        return None


class BrowserBearerAuthentication(BaseAuthentication):
    """Documentation only: the views authenticate by hand (browser.access)."""

    def authenticate(self, request: Any) -> None:  # pragma: no cover - never routed
        return None


class BrowserKeyScheme(OpenApiAuthenticationExtension):
    target_class = "browser.api.chat.BrowserKeyAuthentication"
    name = "BrowserKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key",
                "description": "`pr_browser_…`: a browser-only key, sent only to the token "
                               "exchange, from one of its origins."}


class BrowserBearerScheme(OpenApiAuthenticationExtension):
    target_class = "browser.api.chat.BrowserBearerAuthentication"
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


# --- views --------------------------------------------------------------------------------


MESSAGES_LIMIT = 50


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return MESSAGES_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput({"limit": [f"limit must be an integer between 1 and {MAX_LIMIT}."]})
    return int(raw)


def _read(request: HttpRequest) -> tuple[dict[str, Any], DomainError | None]:
    """The JSON body, or the error it has: reported only to an authenticated caller."""
    try:
        return read_json(request), None
    except DomainError as exc:
        return {}, exc


# --- the token exchange ---------------------------------------------------------------


class _TokenDoc(APIView):
    authentication_classes = [BrowserKeyAuthentication]

    @extend_schema(operation_id="browser_chat_token", request=TokenRequestSerializer,
                   parameters=[ORIGIN],
                   responses=responses(one(TokenSerializer), body=True),
                   description="Exchange a browser key (from one of its origins, for one of "
                               "its agents) for a short-lived chat token.")
    def post(self, request: Request) -> Response:  # pragma: no cover - documentation only
        raise NotImplementedError


@documented_by(_TokenDoc)
@browser_api({"POST"})
async def chat_token(request: HttpRequest, caller: Caller) -> HttpResponseBase:
    body, invalid = _read(request)

    def exchange() -> access.Access:
        if invalid is not None:
            access.key_access(caller, "")  # credentials first: 401/403 before a 400
            raise invalid
        return access.key_access(caller, body.get("agent_id"))

    granted = await run_db(exchange)
    token = tokens.access_token_issue(tokens.AccessClaims(
        key_id=granted.key.pk, agent_id=granted.agent_id, origin=granted.origin))
    return json_data({"access_token": token, "token_type": "Bearer",
                      "expires_in": settings.BROWSER_TOKEN_SECONDS})


# --- sessions -------------------------------------------------------------------------


class _SessionsDoc(APIView):
    authentication_classes = [BrowserBearerAuthentication]

    @extend_schema(operation_id="browser_chat_sessions_create",
                   request=BrowserSessionCreateSerializer, parameters=[ORIGIN],
                   responses=responses(one(BrowserSessionSerializer), status=201,
                                       body=True),
                   description="A chat session of the token's agent, with its resume token.")
    def post(self, request: Request) -> Response:  # pragma: no cover - documentation only
        raise NotImplementedError


@documented_by(_SessionsDoc)
@browser_api({"POST"})
async def sessions(request: HttpRequest, caller: Caller) -> HttpResponseBase:
    body, invalid = _read(request)

    def create() -> dict[str, Any]:
        granted = access.bearer_access(caller)
        if invalid is not None:
            raise invalid
        metadata = body.get("metadata")
        session, grant, resume_token = services.browser_session_create(
            access=granted, agent_id=body.get("agent_id"), title=clean_title(body.get("title")),
            metadata=None if metadata is None else clean_metadata(metadata),
            visitor_tracking=body.get("visitor_tracking"), visitor_id=body.get("visitor_id"),
        )
        created = {"id": session.id, "agent_id": session.agent_id, "title": session.title,
                   "metadata": session.metadata, "created_at": iso(session.created_at),
                   "resume_token": resume_token}
        if grant.visitor_id:
            created["visitor_id"] = grant.visitor_id
        return created

    return json_data(await run_db(create), status=201)


class _SessionDoc(APIView):
    authentication_classes = [BrowserBearerAuthentication]

    @extend_schema(operation_id="browser_chat_sessions_revoke",
                   parameters=[ORIGIN, RESUME_TOKEN],
                   responses=responses(None, status=204),
                   description="Revoke this resume token (the session stays, for staff).")
    def delete(self, request: Request, session_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


@documented_by(_SessionDoc)
@browser_api({"DELETE"})
async def session(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponseBase:
    def revoke() -> None:
        grant = access.resume_grant(access.bearer_access(caller), caller, session_id)
        services.browser_session_revoke(grant=grant)

    await run_db(revoke)
    return HttpResponse(status=204)


# --- messages, the turn, feedback -------------------------------------------------------


class _MessagesDoc(APIView):
    authentication_classes = [BrowserBearerAuthentication]

    @extend_schema(operation_id="browser_chat_messages_list",
                   parameters=[ORIGIN, RESUME_TOKEN, *BROWSER_MESSAGE_PARAMS],
                   responses=responses(many(BrowserMessageSerializer), 400),
                   description="The newest messages, oldest first.")
    def get(self, request: Request, session_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


@documented_by(_MessagesDoc)
@browser_api({"GET"})
async def messages(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponseBase:
    params = request.GET

    def read() -> dict[str, Any]:
        grant = access.resume_grant(access.bearer_access(caller), caller, session_id)
        limit = _limit(params.get("limit"))
        items, more, total = selectors.message_window(
            session=grant.session, limit=limit, before=params.get("before") or None)
        return {"data": [selectors.browser_message_data(m) for m in items],
                "meta": {"total": total, "page": 1, "limit": limit, "pages": 1 if total else 0,
                         "total_pages": 1 if total else 0, "has_more": more}}

    return JsonResponse(await run_db(read))


class _StreamDoc(APIView):
    authentication_classes = [BrowserBearerAuthentication]

    @extend_schema(operation_id="browser_chat_messages_stream",
                   request=BrowserSendSerializer,
                   parameters=[ORIGIN, RESUME_TOKEN],
                   responses=sse_responses(409, body=True),
                   description="Send a message and stream the turn (the events of docs/api.md "
                               "§4). The stream ends early if the browser key is revoked.")
    def post(self, request: Request, session_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


@documented_by(_StreamDoc)
@browser_api({"POST"})
async def send_stream(request: HttpRequest, caller: Caller,
                      session_id: str) -> HttpResponseBase:
    body, invalid = _read(request)

    key_id = ""

    def begin() -> Turn:
        nonlocal key_id
        grant = access.resume_grant(access.bearer_access(caller), caller, session_id)
        if invalid is not None:
            raise invalid
        content = clean_content(body)
        context = body.get("client_context")
        turn = services.browser_turn_start(
            grant=grant, content=content,
            client_context=None if context is None
            else clean_metadata(context, "client_context"),
            idempotency_key=clean_idempotency_key(
                body.get("idempotency_key", request.headers.get("Idempotency-Key"))),
        )
        key_id = grant.api_key_id
        return turn

    turn = await runner.start_turn(run_db(begin))
    response = sse_response(turn.execution_id)
    chunks = response.streaming_content
    assert isinstance(chunks, AsyncIterator)  # executions.sse streams asynchronously
    response.streaming_content = until_revoked(chunks, key_id)
    return response


class _FeedbackDoc(APIView):
    authentication_classes = [BrowserBearerAuthentication]

    @extend_schema(operation_id="browser_chat_feedback_submit",
                   request=chat_docs.FeedbackSerializer,
                   parameters=[ORIGIN, RESUME_TOKEN],
                   responses=responses(one(chat_docs.FeedbackResultSerializer), 404, body=True),
                   description="+1/-1 on a turn of this session (upsert).")
    def post(self, request: Request, session_id: str) -> Response:  # pragma: no cover
        raise NotImplementedError


@documented_by(_FeedbackDoc)
@browser_api({"POST"})
async def feedback(request: HttpRequest, caller: Caller, session_id: str) -> HttpResponseBase:
    body, invalid = _read(request)

    def submit() -> None:
        grant = access.resume_grant(access.bearer_access(caller), caller, session_id)
        if invalid is not None:
            raise invalid
        feedback_submit(session=grant.session, execution_id=body.get("execution_id"),
                        value=body.get("value"))

    await run_db(submit)
    return json_data({"submitted": True})
