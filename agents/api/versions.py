"""Agent versions, and the list / get / promote views every versioned object shares.

Input: ``AgentVersionCreateSerializer`` (with its model config, run budget and tool
attachments). Output: ``agent_version_payload``, documented by ``AgentVersionSerializer``.
Views: ``version_views`` builds the list+create, get and promote views of a kind of
version from a ``VersionResource`` (prompt versions use it too, in ``prompts.py``); the
writes are ``agents.services`` (with the shared rules in ``agents.versioning``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from agents.api.common import (
    AGENT_TYPES,
    VERSION_MAX,
    ObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    json_field,
    object_field,
    page,
    valid,
)
from agents.models import Agent, AgentVersion
from promptrails.api.formats import iso
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.models import Workspace

# --- input ------------------------------------------------------------------------------


class ModelConfigSerializer(serializers.Serializer):
    model_id = StrictCharField(max_length=200, required=False, allow_null=True)
    fallback_model_id = StrictCharField(max_length=200, required=False, allow_null=True)
    temperature = StrictFloatField(min_value=0, max_value=2, required=False, allow_null=True)
    top_p = StrictFloatField(min_value=0, max_value=1, required=False, allow_null=True)
    top_k = StrictIntegerField(min_value=1, required=False, allow_null=True)
    max_tokens = StrictIntegerField(min_value=1, max_value=1_000_000, required=False,
                                    allow_null=True)


class RunBudgetSerializer(serializers.Serializer):
    max_cost = StrictFloatField(min_value=0, required=False, allow_null=True)
    max_total_tokens = StrictIntegerField(min_value=1, required=False, allow_null=True)
    max_tool_calls = StrictIntegerField(min_value=0, max_value=1000, required=False,
                                        allow_null=True)
    max_children = StrictIntegerField(min_value=0, required=False, allow_null=True)
    max_depth = StrictIntegerField(min_value=0, required=False, allow_null=True)


class ToolAttachmentSerializer(serializers.Serializer):
    mcp_tool_id = StrictCharField(max_length=100)
    requires_approval = StrictBooleanField(required=False, default=False)
    no_retry = StrictBooleanField(required=False, default=False)
    sort_order = StrictIntegerField(required=False, allow_null=True, default=None,
                                    min_value=-(2**31), max_value=2**31 - 1)  # the column


class AgentConfigSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AGENT_TYPES, default="agent")
    prompt_id = StrictCharField(max_length=100, required=False, allow_null=True)
    nodes = serializers.ListField(child=ObjectField(), required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("type", "agent") == "agent" and not attrs.get("prompt_id"):
            raise serializers.ValidationError({"prompt_id": ["An agent config needs a prompt_id."]})
        return attrs


class AgentVersionCreateSerializer(serializers.Serializer):
    version = StrictCharField(max_length=VERSION_MAX, required=False, allow_null=True)
    set_current = StrictBooleanField(required=False, default=False)
    message = StrictCharField(allow_blank=True, required=False, allow_null=True)
    config = AgentConfigSerializer()
    input_schema = ObjectField(required=False, allow_null=True)
    output_schema = ObjectField(required=False, allow_null=True)
    model_config = ModelConfigSerializer(required=False, allow_null=True)
    run_budget = RunBudgetSerializer(required=False, allow_null=True)
    # A ListField, not many=True: `allow_null` then covers the list, never its items
    # (a null item used to reach validate_tools and fail with a 500).
    tools = serializers.ListField(child=ToolAttachmentSerializer(), required=False,
                                  allow_null=True)

    def validate_tools(self, value: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        value = value or []
        ids = [t["mcp_tool_id"] for t in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A tool can be attached only once.")
        return value


# --- output -----------------------------------------------------------------------------


def agent_version_payload(version: AgentVersion) -> dict[str, Any]:
    links = list(version.tool_links.all())
    links.sort(key=lambda link: (link.sort_order, link.pk))
    return {
        "id": version.pk,
        "agent_id": version.agent_id,
        "version": version.version,
        "message": version.message,
        "config": version.config,
        "input_schema": version.input_schema,
        "output_schema": version.output_schema,
        "model_config": version.model_config,
        "run_budget": version.run_budget,
        "tools": [
            {
                "mcp_tool_id": link.tool_id,
                "name": link.tool.name,
                "type": link.tool.type,
                "description": link.tool.description,
                "requires_approval": link.requires_approval,
                "no_retry": link.no_retry,
                "sort_order": link.sort_order,
            }
            for link in links
        ],
        "sub_agents": [],
        "guardrails": [],
        "is_current": version.is_current,
        "is_active": version.is_current,
        "created_at": iso(version.created_at),
    }


# --- documentation ----------------------------------------------------------------------


class AttachedToolSerializer(serializers.Serializer):
    mcp_tool_id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    requires_approval = serializers.BooleanField()
    no_retry = serializers.BooleanField()
    sort_order = serializers.IntegerField()


class AgentVersionSerializer(serializers.Serializer):
    id = serializers.CharField()
    agent_id = serializers.CharField()
    version = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    config = object_field()
    input_schema = object_field(allow_null=True)
    output_schema = object_field(allow_null=True)
    model_config = object_field(allow_null=True)
    run_budget = object_field(allow_null=True)
    tools = AttachedToolSerializer(many=True)
    sub_agents = serializers.ListField(child=json_field())
    guardrails = serializers.ListField(child=json_field())
    is_current = serializers.BooleanField()
    is_active = serializers.BooleanField(help_text="Same as is_current (the Go client reads it).")
    created_at = serializers.DateTimeField()


# --- views shared by every versioned object -------------------------------------------------


@dataclass(frozen=True)
class VersionResource:
    """One kind of version under its parent, for ``version_views``."""

    operation_prefix: str  # "agent_versions": operation ids agent_versions_list, …
    parent_kwarg: str  # the URL keyword of the parent id: "agent_id"
    parent_get: Callable[[Workspace, str], Any]
    versions: Callable[[Any], QuerySet[Any]]
    version_get: Callable[[Any, str], Any]
    promote: Callable[[Any], Any]
    payload: Callable[[Any], dict[str, Any]]
    doc: type[serializers.Serializer]
    create_request: type[serializers.Serializer]
    create: Callable[[Any, dict[str, Any]], Any]  # (parent, validated body) -> version


def version_views(res: VersionResource) -> tuple[type[APIView], type[APIView], type[APIView]]:
    """The list+create, get and promote views of one kind of version."""
    op = res.operation_prefix

    def parent_of(request: Request, kwargs: dict[str, str]) -> Any:
        return res.parent_get(request_workspace(request), kwargs[res.parent_kwarg])

    class ListView(APIView):
        @extend_schema(operation_id=f"{op}_list", parameters=doc_page_params(),
                       responses=responses(many(res.doc), 400, 404))
        def get(self, request: Request, **kwargs: str) -> Response:
            return page(request, res.versions(parent_of(request, kwargs)), res.payload)

        @extend_schema(operation_id=f"{op}_create", request=res.create_request,
                       responses=responses(one(res.doc), 404, status=201, body=True))
        def post(self, request: Request, **kwargs: str) -> Response:
            parent = parent_of(request, kwargs)
            version = res.create(parent, valid(res.create_request, request))
            return data(res.payload(version), status.HTTP_201_CREATED)

    class DetailView(APIView):
        @extend_schema(operation_id=f"{op}_retrieve", responses=responses(one(res.doc), 404))
        def get(self, request: Request, version_id: str, **kwargs: str) -> Response:
            version = res.version_get(parent_of(request, kwargs), version_id)
            return data(res.payload(version))

    class PromoteView(APIView):
        @extend_schema(operation_id=f"{op}_promote_put", request=None,
                       responses=responses(one(res.doc), 404))
        def put(self, request: Request, version_id: str, **kwargs: str) -> Response:
            version = res.version_get(parent_of(request, kwargs), version_id)
            return data(res.payload(res.promote(version)))

        @extend_schema(operation_id=f"{op}_promote", request=None,
                       responses=responses(one(res.doc), 404))
        def post(self, request: Request, version_id: str, **kwargs: str) -> Response:
            return self.put(request, version_id, **kwargs)

    kind = "".join(word.title() for word in op.removesuffix("s").split("_"))  # AgentVersion
    for view, suffix in ((ListView, "ListView"), (DetailView, "DetailView"),
                         (PromoteView, "PromoteView")):
        view.__name__ = view.__qualname__ = f"{kind}{suffix}"  # tracebacks, logs
    return ListView, DetailView, PromoteView


# --- agent versions ---------------------------------------------------------------------


def _agent_version_create(agent: Agent, body: dict[str, Any]) -> AgentVersion:
    version = services.agent_version_create(
        agent=agent,
        config=dict(body["config"]),
        version=body.get("version"),
        set_current=body.get("set_current", False),
        message=body.get("message") or "",
        input_schema=body.get("input_schema"),
        output_schema=body.get("output_schema"),
        model_config=dict(body["model_config"]) if body.get("model_config") else None,
        run_budget=dict(body["run_budget"]) if body.get("run_budget") else None,
        tools=[dict(t) for t in body.get("tools") or []],
    )
    return selectors.agent_version_get(agent=agent, version_id=version.pk)


AGENT_VERSIONS = VersionResource(
    operation_prefix="agent_versions",
    parent_kwarg="agent_id",
    parent_get=lambda workspace, pk: selectors.agent_get(workspace=workspace, agent_id=pk),
    versions=lambda agent: selectors.agent_versions(agent=agent),
    version_get=lambda agent, pk: selectors.agent_version_get(agent=agent, version_id=pk),
    promote=lambda version: services.agent_version_promote(version=version),
    payload=agent_version_payload,
    doc=AgentVersionSerializer,
    create_request=AgentVersionCreateSerializer,
    create=_agent_version_create,
)

AgentVersionListView, AgentVersionDetailView, AgentVersionPromoteView = version_views(
    AGENT_VERSIONS)
