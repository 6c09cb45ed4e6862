"""Tools (built-in and remote MCP servers): input serializers (the config itself is
checked by ``agents.mcp.services.clean_config``), output payload, its OpenAPI
description, the views. Writes and MCP calls are ``agents.mcp.services``, reads
``agents.selectors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents.api.common import (
    ObjectField,
    StrictBooleanField,
    StrictCharField,
    no_content,
    object_field,
    page,
    valid,
)
from agents.mcp import services as mcp_services
from agents.models import McpTool
from promptrails.api.formats import iso
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace

# --- input ---------------------------------------------------------------------------------


TOOL_STATUSES = ("active", "inactive", "error")


def _check_template(value: Any) -> Any:
    if value not in (None, ""):
        raise serializers.ValidationError("MCP templates are not supported by this server.")
    return value


class McpToolCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    type = StrictCharField(max_length=32)
    description = StrictCharField(allow_blank=True, required=False, default="")
    config = ObjectField(required=False, default=dict)
    schema = ObjectField(required=False, allow_null=True)  # accepted; discovery fills it
    credential_id = StrictCharField(max_length=100, required=False, allow_null=True,
                                    allow_blank=True)
    template_id = StrictCharField(required=False, allow_null=True, allow_blank=True,
                                  validators=[_check_template])
    status = serializers.ChoiceField(choices=TOOL_STATUSES, required=False, allow_null=True)
    is_active = StrictBooleanField(required=False)


class McpToolUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    config = ObjectField(required=False)
    credential_id = StrictCharField(max_length=100, required=False, allow_null=True,
                                    allow_blank=True)
    is_active = StrictBooleanField(required=False)
    status = serializers.ChoiceField(choices=TOOL_STATUSES, required=False)


class McpToolCallSerializer(serializers.Serializer):
    tool_name = StrictCharField(max_length=200)
    arguments = ObjectField(required=False, allow_null=True, default=dict)


def active_from(body: dict[str, Any]) -> bool | None:
    """``is_active`` from the body: given outright, or ``status`` "inactive"/"active"."""
    if "is_active" in body:
        return bool(body["is_active"])
    status = body.get("status")
    if status in ("active", "inactive"):
        return status == "active"
    return None


# --- output --------------------------------------------------------------------------------


def tool_payload(tool: McpTool) -> dict[str, Any]:
    return {
        "id": tool.pk,
        "workspace_id": tool.workspace_id,
        "name": tool.name,
        "type": tool.type,
        "description": tool.description,
        "config": tool.config,
        "schema": tool.schema,
        "is_active": tool.is_active,
        "status": tool.status,
        "credential_id": tool.credential_id,
        "template_id": None,
        # extensions: the server's tools as last discovered, and why discovery last failed
        "discovered_tools": tool.discovered_tools or [],
        "discovered_at": iso(tool.discovered_at),
        "last_error": tool.last_error or None,
        "created_at": iso(tool.created_at),
        "updated_at": iso(tool.updated_at),
    }


# --- documentation -------------------------------------------------------------------------


class DiscoveredToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    inputSchema = object_field()  # noqa: N815 - the MCP wire name


class ToolSerializer(serializers.Serializer):
    id = serializers.CharField()
    workspace_id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    config = object_field()
    schema = object_field()
    is_active = serializers.BooleanField()
    status = serializers.CharField()
    credential_id = serializers.CharField(allow_null=True)
    template_id = serializers.CharField(allow_null=True)
    discovered_tools = DiscoveredToolSerializer(many=True)
    discovered_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class McpDiscoverSerializer(serializers.Serializer):
    tools = DiscoveredToolSerializer(many=True)
    trace_id = serializers.CharField()


class McpCallResultSerializer(serializers.Serializer):
    content = serializers.ListField(child=object_field())
    is_error = serializers.BooleanField()
    trace_id = serializers.CharField()


# --- views ---------------------------------------------------------------------------------


class ToolListView(APIView):
    @extend_schema(operation_id="mcp_tools_list",
                   parameters=doc_page_params(),
        responses=responses(many(ToolSerializer), 400))
    def get(self, request: Request) -> Response:
        return page(request, selectors.tool_list(workspace=request_workspace(request)),
                     tool_payload)

    @extend_schema(operation_id="mcp_tools_create", request=McpToolCreateSerializer,
        responses=responses(one(ToolSerializer), 404, status=201, body=True),
        description="An MCP server as a tool: type `remote_mcp`, config `{url, "
                    "transport_type: http|sse, headers, allowed_tools?, timeout_seconds?}`. "
                    "Header values may use `{{placeholders}}` filled from the linked "
                    "credential when a request is made; headers are returned masked.")
    def post(self, request: Request) -> Response:
        body = valid(McpToolCreateSerializer, request)
        active = active_from(body)
        tool = mcp_services.mcp_tool_create(
            workspace=request_workspace(request), name=body["name"], type=body["type"],
            config=body.get("config"), credential_id=body.get("credential_id"),
            description=body.get("description") or "",
            is_active=True if active is None else active)
        return data(tool_payload(tool), status.HTTP_201_CREATED)


class ToolDetailView(APIView):
    @extend_schema(operation_id="mcp_tools_retrieve",
                   responses=responses(one(ToolSerializer), 404))
    def get(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        return data(tool_payload(tool))

    @extend_schema(operation_id="mcp_tools_update", request=McpToolUpdateSerializer,
        responses=responses(one(ToolSerializer), 404, body=True),
        description="A masked header value sent back unchanged keeps the stored value.")
    def patch(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        changes = valid(McpToolUpdateSerializer, request, partial=True)
        active = active_from(changes)
        changes.pop("status", None)
        if active is not None:
            changes["is_active"] = active
        tool = mcp_services.mcp_tool_update(tool=tool, changes=changes)
        return data(tool_payload(tool))

    @extend_schema(operation_id="mcp_tools_replace", request=McpToolUpdateSerializer,
        responses=responses(one(ToolSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, tool_id: str) -> Response:
        return self.patch(request, tool_id)

    @extend_schema(operation_id="mcp_tools_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        mcp_services.mcp_tool_delete(tool=tool)
        return no_content()


class ToolDiscoverView(APIView):
    @extend_schema(operation_id="mcp_tools_discover", request=None,
        responses=responses(one(McpDiscoverSerializer), 404, 502),
        description="Ask the MCP server for its tools now (kept on the tool; 502 "
                    "`upstream_error` when it cannot be reached).")
    def post(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        trace_id = mcp_services.new_trace_id()
        tools = mcp_services.mcp_tool_discover(tool=tool, trace_id=trace_id)
        return data({"tools": tools, "trace_id": trace_id})


class ToolCallView(APIView):
    @extend_schema(operation_id="mcp_tools_call", request=McpToolCallSerializer,
        responses=responses(one(McpCallResultSerializer), 404, 502, body=True),
        description="Call one of the server's tools. The tool's own failure is "
                    "`is_error: true`; an unreachable or misbehaving server is 502.")
    def post(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        body = valid(McpToolCallSerializer, request)
        return data(mcp_services.mcp_tool_call(tool=tool, tool_name=body["tool_name"],
                                               arguments=dict(body.get("arguments") or {})))
