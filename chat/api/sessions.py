"""Chat sessions (docs/api.md §2): output payloads, their OpenAPI description (with the
request bodies; input is checked by ``chat.validation``), the views, and the WebSocket
ticket of a session. Writes are ``chat.services``, reads ``chat.selectors``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, services
from chat.api.common import body_of, object_field
from chat.models import Session, Summary
from chat.tickets import ticket_issue
from chat.validation import clean_metadata, clean_title, clean_user_id
from promptrails.api.formats import iso
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace

# --- output --------------------------------------------------------------------------------


def session_data(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "workspace_id": session.workspace_id,
        "agent_id": session.agent_id,
        "user_id": session.user_id,
        "title": session.title,
        "metadata": session.metadata,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "summary": summary_data(session.summary) if session.summary_id else None,
    }


def summary_data(summary: Summary | None) -> dict[str, Any] | None:
    """The session's current rolling summary (context strategy "summary")."""
    if summary is None:
        return None
    return {
        "id": summary.id,
        "content": summary.content,
        "covers_until_message_id": summary.covers_until_message_id,
        "messages_folded": summary.messages_folded,
        "created_at": iso(summary.created_at),
    }


# --- documentation -------------------------------------------------------------------------


class SessionSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    content = serializers.CharField(help_text="Sent instead of the messages it covers.")
    covers_until_message_id = serializers.CharField(
        help_text="The newest message folded into the summary.")
    messages_folded = serializers.IntegerField(
        help_text="Messages folded by the last summarizer call.")
    created_at = serializers.DateTimeField()


class SessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    workspace_id = serializers.CharField()
    agent_id = serializers.CharField(allow_null=True)
    user_id = serializers.CharField(allow_null=True)
    title = serializers.CharField(allow_blank=True)
    metadata = object_field()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(help_text="Moves on every new message.")
    summary = SessionSummarySerializer(
        allow_null=True, help_text="The current rolling summary of the older messages "
                                   "(agent versions with context strategy \"summary\").")


class SessionCreateSerializer(serializers.Serializer):
    agent_id = serializers.CharField(help_text="An agent of the same workspace (404 otherwise).")
    title = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    metadata = object_field(required=False, allow_null=True,
                       help_text=f"At most {settings.METADATA_MAX_BYTES} bytes of JSON, "
                                 f"{settings.METADATA_MAX_DEPTH} levels deep.")
    user_id = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                                    max_length=255)


class SessionUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    metadata = object_field(required=False, allow_null=True)




class WsTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_at = serializers.DateTimeField()


# --- views ---------------------------------------------------------------------------------


LIST_PARAMS = doc_page_params(
    OpenApiParameter("agent_id", str), OpenApiParameter("user_id", str),
    OpenApiParameter("search", str, description="Matches the title."),
    OpenApiParameter("ordering", str, enum=sorted(selectors.ORDERINGS)),
)


class SessionListView(APIView):
    @extend_schema(operation_id="chat_sessions_list", parameters=LIST_PARAMS,
                   responses=responses(many(SessionSerializer), 400),
                   description="Newest first by default. Also filters by "
                               "`metadata.<key>=<value>` query parameters (AND-ed).")
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = selectors.session_list(workspace=request_workspace(request),
                                    params=request.query_params)
        items, page_meta = paginate(qs, params)
        return Response({"data": [session_data(s) for s in items], "meta": page_meta})

    @extend_schema(operation_id="chat_sessions_create", request=SessionCreateSerializer,
                   responses=responses(one(SessionSerializer), 404, status=201,
                                       body=True),
                   description="`agentId` is accepted as an alias of `agent_id`.")
    def post(self, request: Request) -> Response:
        body = body_of(request)
        user_id = clean_user_id(body.get("user_id"))
        signed_in = request.auth.user if request.auth is not None else None
        if user_id is None and signed_in is not None:
            user_id = signed_in.get_username()  # a session made on the chat page is its user's
        session = services.session_create(
            workspace=request_workspace(request),
            # agentId: what the JS SDK sends when given createSession({agentId, ...})
            agent_id=body["agent_id"] if "agent_id" in body else body.get("agentId"),
            title=clean_title(body.get("title")),
            metadata=clean_metadata(body.get("metadata")),
            user_id=user_id,
        )
        return data(session_data(session), status.HTTP_201_CREATED)


class SessionDetailView(APIView):
    def _session(self, request: Request, session_id: str) -> Any:
        return selectors.session_get(workspace=request_workspace(request), session_id=session_id)

    @extend_schema(operation_id="chat_sessions_retrieve",
                   responses=responses(one(SessionSerializer), 404))
    def get(self, request: Request, session_id: str) -> Response:
        return data(session_data(self._session(request, session_id)))

    @extend_schema(operation_id="chat_sessions_update", request=SessionUpdateSerializer,
                   responses=responses(one(SessionSerializer), 404, body=True))
    def patch(self, request: Request, session_id: str) -> Response:
        session = self._session(request, session_id)
        body = body_of(request)
        changes: dict[str, Any] = {}
        if "title" in body:
            changes["title"] = clean_title(body["title"])
        if "metadata" in body:
            changes["metadata"] = clean_metadata(body["metadata"])
        return data(session_data(services.session_update(session=session, changes=changes)))

    @extend_schema(operation_id="chat_sessions_delete", responses=responses(None, 404, status=204))
    def delete(self, request: Request, session_id: str) -> Response:
        services.session_delete(session=self._session(request, session_id))
        return Response(status=status.HTTP_204_NO_CONTENT)




class WsTicketView(APIView):
    """A single-use, 60-second ticket for opening the session's WebSocket from a browser."""

    @extend_schema(operation_id="chat_ws_ticket_create", request=None,
                   responses=responses(one(WsTicketSerializer), 404, status=201))
    def post(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(workspace=request_workspace(request),
                                        session_id=session_id)
        user = request.auth.user if request.auth is not None else None
        api_key = getattr(request.auth, "api_key", None)
        ticket, expires_at = ticket_issue(workspace_id=session.workspace_id,
                                          session_id=session.id,
                                          user_id=getattr(user, "pk", None),
                                          api_key_id=getattr(api_key, "pk", None))
        return data({"ticket": ticket, "expires_at": iso(expires_at)}, status.HTTP_201_CREATED)
