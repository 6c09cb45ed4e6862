"""An agent's memories: output payload, its OpenAPI description (with the write body),
the views. Input is cleaned, and memories read and written, by ``agents.memories``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import memories, selectors
from agents.api.common import no_content, page
from agents.models import Memory, MemoryType
from promptrails.api.formats import iso
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.errors import InvalidInput

# --- output --------------------------------------------------------------------------------


def memory_payload(memory: Memory) -> dict[str, Any]:
    return {
        "id": memory.pk,
        "agent_id": memory.agent_id,
        "workspace_id": memory.workspace_id,
        "subject": memory.subject,
        "content": memory.content,
        "memory_type": memory.memory_type,
        "importance": memory.importance,
        "access_count": memory.access_count,
        "session_id": memory.session_id,
        "created_at": iso(memory.created_at),
        "updated_at": iso(memory.updated_at),
    }


# --- documentation -------------------------------------------------------------------------


class MemorySerializer(serializers.Serializer):
    id = serializers.CharField()
    agent_id = serializers.CharField()
    workspace_id = serializers.CharField()
    subject = serializers.CharField(allow_blank=True,
                          help_text="The external user it is about; empty: about the agent.")
    content = serializers.CharField()
    memory_type = serializers.ChoiceField(choices=MemoryType.values)
    importance = serializers.FloatField(min_value=0, max_value=1)
    access_count = serializers.IntegerField()
    session_id = serializers.CharField(allow_null=True, help_text="The session it was told in.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MemoryWriteSerializer(serializers.Serializer):
    """Request body of create (content required) and update (every field optional)."""

    content = serializers.CharField()
    memory_type = serializers.ChoiceField(choices=MemoryType.values, required=False)
    importance = serializers.FloatField(min_value=0, max_value=1, required=False)
    subject = serializers.CharField(allow_blank=True, allow_null=True, required=False)


# --- views ---------------------------------------------------------------------------------


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidInput({"non_field_errors": ["Expected a JSON object."]})
    return dict(request.data)


class AgentMemoryListView(APIView):
    @extend_schema(operation_id="agent_memories_list",
                   parameters=doc_page_params(
        OpenApiParameter("subject", str, description="Exact subject; empty: general ones."),
        OpenApiParameter("memory_type", str, enum=MemoryType.values),
        OpenApiParameter("search", str, description="Substring of the content.")),
        responses=responses(many(MemorySerializer), 400, 404))
    def get(self, request: Request, agent_id: str) -> Response:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        params = request.query_params
        memory_type = params.get("memory_type")
        if memory_type and memory_type not in MemoryType.values:
            raise InvalidInput({"memory_type": [f"One of {', '.join(MemoryType.values)}."]})
        qs = memories.memory_list(workspace=workspace, agent=agent, params=params)
        return page(request, qs, memory_payload)

    @extend_schema(operation_id="agent_memories_create", request=MemoryWriteSerializer,
        responses=responses(one(MemorySerializer), 404, status=201, body=True))
    def post(self, request: Request, agent_id: str) -> Response:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        memory = memories.memory_create(workspace=workspace, agent=agent, data=_body(request))
        return data(memory_payload(memory), status.HTTP_201_CREATED)


class AgentMemoryDetailView(APIView):
    def _get(self, request: Request, agent_id: str, memory_id: str) -> Any:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        return memories.memory_get(workspace=workspace, agent=agent, memory_id=memory_id)

    @extend_schema(operation_id="agent_memories_retrieve",
                   responses=responses(one(MemorySerializer), 404))
    def get(self, request: Request, agent_id: str, memory_id: str) -> Response:
        return data(memory_payload(self._get(request, agent_id, memory_id)))

    @extend_schema(operation_id="agent_memories_update", request=MemoryWriteSerializer,
        responses=responses(one(MemorySerializer), 404, body=True),
        description="Only the given fields change.")
    def patch(self, request: Request, agent_id: str, memory_id: str) -> Response:
        memory = self._get(request, agent_id, memory_id)
        memory = memories.memory_update(memory=memory, data=_body(request))
        return data(memory_payload(memory))

    @extend_schema(operation_id="agent_memories_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, agent_id: str, memory_id: str) -> Response:
        memories.memory_delete(memory=self._get(request, agent_id, memory_id))
        return no_content()
