"""Chat REST views: thin — validate, authorize, delegate to services/selectors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import schema as docs
from chat import selectors, services
from chat.serializers import feedback_data, message_data, session_data
from chat.tickets import ticket_issue
from chat.validation import clean_metadata, clean_title, clean_user_id
from promptrails.api.formats import iso
from promptrails.api.pagination import meta, page_params, paginate
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.errors import InvalidInput


def body_of(request: Request) -> dict[str, Any]:
    body = request.data
    if not isinstance(body, dict):
        raise InvalidInput({"body": ["The request body must be a JSON object."]})
    return body


LIST_PARAMS = doc_page_params(
    OpenApiParameter("agent_id", str), OpenApiParameter("user_id", str),
    OpenApiParameter("search", str, description="Matches the title."),
    OpenApiParameter("ordering", str, enum=sorted(selectors.ORDERINGS)),
)


class SessionListView(APIView):
    @extend_schema(operation_id="chat_sessions_list", parameters=LIST_PARAMS,
                   responses=responses(many(docs.SessionSerializer), 400),
                   description="Newest first by default. Also filters by "
                               "`metadata.<key>=<value>` query parameters (AND-ed).")
    def get(self, request: Request) -> Response:
        params = page_params(request.query_params)
        qs = selectors.session_list(workspace=request_workspace(request),
                                    params=request.query_params)
        items, page_meta = paginate(qs, params)
        return Response({"data": [session_data(s) for s in items], "meta": page_meta})

    @extend_schema(operation_id="chat_sessions_create", request=docs.SessionCreateSerializer,
                   responses=responses(one(docs.SessionSerializer), 404, status=201,
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
                   responses=responses(one(docs.SessionSerializer), 404))
    def get(self, request: Request, session_id: str) -> Response:
        return data(session_data(self._session(request, session_id)))

    @extend_schema(operation_id="chat_sessions_update", request=docs.SessionUpdateSerializer,
                   responses=responses(one(docs.SessionSerializer), 404, body=True))
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


class MessageListView(APIView):
    """GET lists messages (oldest first; page/limit or after/before cursors)."""

    @extend_schema(
        operation_id="chat_messages_list",
        parameters=doc_page_params(*docs.MESSAGE_PAGE_PARAMS),
        responses=responses(many(docs.MessageSerializer), 400, 404),
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


class FeedbackView(APIView):
    @extend_schema(operation_id="chat_feedback_list", parameters=doc_page_params(),
                   responses=responses(many(docs.FeedbackItemSerializer), 400, 404),
                   description="The session's feedback, one per execution, oldest first.")
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(workspace=request_workspace(request),
                                        session_id=session_id)
        items, page_meta = paginate(selectors.feedback_list(session=session),
                                    page_params(request.query_params))
        return Response({"data": [feedback_data(f) for f in items], "meta": page_meta})

    @extend_schema(operation_id="chat_feedback_submit", request=docs.FeedbackSerializer,
                   responses=responses(one(docs.FeedbackResultSerializer), 404, body=True),
                   description="Upsert per (session, execution).")
    def post(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(workspace=request_workspace(request),
                                        session_id=session_id)
        body = body_of(request)
        services.feedback_submit(session=session, execution_id=body.get("execution_id"),
                                 value=body.get("value"))
        return data({"submitted": True})


class WsTicketView(APIView):
    """A single-use, 60-second ticket for opening the session's WebSocket from a browser."""

    @extend_schema(operation_id="chat_ws_ticket_create", request=None,
                   responses=responses(one(docs.WsTicketSerializer), 404, status=201))
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
