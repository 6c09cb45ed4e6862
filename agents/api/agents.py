"""Agents: input serializers, output payload, its OpenAPI description, the views.

``POST agents/<id>/execute`` belongs to the executions API; versions are in
``versions.py``; writes are ``agents.services``, reads ``agents.selectors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from agents.api.common import (
    AGENT_STATUSES,
    AGENT_TYPES,
    NAME_MAX,
    PreviewSerializer,
    StrictCharField,
    labels_field,
    no_content,
    object_field,
    page,
    valid,
)
from agents.api.versions import AgentVersionSerializer, agent_version_payload
from agents.models import Agent, AgentVersion
from agents.preparation import preview_prompts
from promptrails.api.formats import iso
from promptrails.api.schema import many, one, responses, strings
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace

# --- input ------------------------------------------------------------------------------


class AgentCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX)
    type = serializers.ChoiceField(choices=AGENT_TYPES, default="agent")
    description = StrictCharField(allow_blank=True, required=False, default="")
    status = serializers.ChoiceField(choices=AGENT_STATUSES, required=False, default="active")
    labels = labels_field(required=False, default=list)


class AgentUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX, required=False)
    type = serializers.ChoiceField(choices=AGENT_TYPES, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=AGENT_STATUSES, required=False)
    labels = labels_field(required=False)


# --- output -----------------------------------------------------------------------------


def agent_payload(agent: Agent, *, current: AgentVersion | None = None,
                  embed: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": agent.pk,
        "workspace_id": agent.workspace_id,
        "name": agent.name,
        "description": agent.description,
        "type": agent.type,
        "status": agent.status,
        "labels": agent.labels,
        "created_by_id": None,
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
    }
    if embed:
        body["current_version_id"] = current.pk if current else None
        body["current_version"] = agent_version_payload(current) if current else None
    else:
        body["current_version_id"] = getattr(agent, "current_version_pk", None)
    return body


# --- documentation ----------------------------------------------------------------------


class AgentSerializer(serializers.Serializer):
    id = serializers.CharField()
    workspace_id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    type = serializers.ChoiceField(choices=AGENT_TYPES)
    status = serializers.ChoiceField(choices=AGENT_STATUSES)
    labels = serializers.ListField(child=serializers.CharField(allow_blank=True))
    created_by_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    current_version_id = serializers.CharField(allow_null=True)
    current_version = AgentVersionSerializer(allow_null=True, required=False,
                                             help_text="Embedded on single-agent reads.")


class AgentPreviewSerializer(serializers.Serializer):
    agent_id = serializers.CharField()
    version_id = serializers.CharField()
    prompt_id = serializers.CharField()
    prompt_version_id = serializers.CharField()
    model_id = serializers.CharField(allow_null=True)
    system_prompt = serializers.CharField(allow_blank=True)
    user_prompt = serializers.CharField(allow_blank=True)
    input = object_field()


# --- views ------------------------------------------------------------------------------


def _agent_detail(agent: Any) -> dict[str, Any]:
    current = selectors.agent_current_version(agent=agent)
    return agent_payload(agent, current=current, embed=True)


class AgentListView(APIView):
    @extend_schema(operation_id="agents_list",
                   parameters=doc_page_params(
        OpenApiParameter("type", str, enum=AGENT_TYPES), OpenApiParameter("status", str),
        *strings("name", "search")),
        responses=responses(many(AgentSerializer), 400))
    def get(self, request: Request) -> Response:
        params = request.query_params
        filters = selectors.AgentFilters(
            type=params.get("type") or None, status=params.get("status") or None,
            name=params.get("name") or None, search=params.get("search") or None,
        )
        qs = selectors.agent_list(workspace=request_workspace(request), filters=filters)
        return page(request, qs, agent_payload)

    @extend_schema(operation_id="agents_create", request=AgentCreateSerializer,
        responses=responses(one(AgentSerializer), status=201, body=True))
    def post(self, request: Request) -> Response:
        body = valid(AgentCreateSerializer, request)
        agent = services.agent_create(workspace=request_workspace(request), **body)
        return data(_agent_detail(agent), status.HTTP_201_CREATED)


class AgentDetailView(APIView):
    @extend_schema(operation_id="agents_retrieve",
                   responses=responses(one(AgentSerializer), 404))
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        return data(_agent_detail(agent))

    @extend_schema(operation_id="agents_update", request=AgentUpdateSerializer,
        responses=responses(one(AgentSerializer), 404, body=True))
    def patch(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        changes = valid(AgentUpdateSerializer, request, partial=True)
        agent = services.agent_update(agent=agent, changes=changes)
        return data(_agent_detail(agent))

    @extend_schema(operation_id="agents_replace", request=AgentUpdateSerializer,
        responses=responses(one(AgentSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, agent_id: str) -> Response:
        return self.patch(request, agent_id)

    @extend_schema(operation_id="agents_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        services.agent_delete(agent=agent)
        return no_content()


class AgentPreviewView(APIView):
    @extend_schema(operation_id="agents_preview", request=PreviewSerializer,
        responses=responses(one(AgentPreviewSerializer), 404, body=True))
    def post(self, request: Request, agent_id: str) -> Response:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        body = valid(PreviewSerializer, request)
        version_id = body.get("version_id")
        if version_id:
            selectors.agent_version_get(agent=agent, version_id=version_id)
        return data(preview_prompts(workspace=workspace, agent=agent,
                                    variables=dict(body.get("input") or {}),
                                    version_id=version_id))
