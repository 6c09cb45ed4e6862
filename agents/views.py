"""REST views of the agents app: validate, scope to the workspace, delegate, envelope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import memories, payloads, selectors, services
from agents import schema as docs
from agents.mcp import serializers as mcp_serializers
from agents.mcp import services as mcp_services
from agents.mcp.serializers import (
    McpToolCallSerializer,
    McpToolCreateSerializer,
    McpToolUpdateSerializer,
)
from agents.models import MemoryType
from agents.preparation import preview_prompts
from agents.serializers import (
    AGENT_TYPES,
    AgentCreateSerializer,
    AgentUpdateSerializer,
    AgentVersionCreateSerializer,
    CredentialCreateSerializer,
    CredentialUpdateSerializer,
    PreviewSerializer,
    PromptCreateSerializer,
    PromptUpdateSerializer,
    PromptVersionCreateSerializer,
)
from agents.templating import render_template
from promptrails.api.pagination import page_params, paginate
from promptrails.api.schema import many, one, responses, strings
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.errors import InvalidInput


def _valid(serializer_class: type[serializers.Serializer], request: Request,
           *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _page(request: Request, queryset: QuerySet[Any], render: Any) -> Response:
    items, meta = paginate(queryset, page_params(request.query_params))
    return Response({"data": [render(item) for item in items], "meta": meta})


def _no_content() -> Response:
    return Response(status=status.HTTP_204_NO_CONTENT)


def _agent_detail(agent: Any) -> dict[str, Any]:
    current = selectors.agent_current_version(agent=agent)
    return payloads.agent_payload(agent, current=current, embed=True)


# --- agents -----------------------------------------------------------------------------


class AgentListView(APIView):
    @extend_schema(operation_id="agents_list",
                   parameters=doc_page_params(
        OpenApiParameter("type", str, enum=AGENT_TYPES), OpenApiParameter("status", str),
        *strings("name", "search")),
        responses=responses(many(docs.AgentSerializer), 400))
    def get(self, request: Request) -> Response:
        params = request.query_params
        filters = selectors.AgentFilters(
            type=params.get("type") or None, status=params.get("status") or None,
            name=params.get("name") or None, search=params.get("search") or None,
        )
        qs = selectors.agent_list(workspace=request_workspace(request), filters=filters)
        return _page(request, qs, payloads.agent_payload)

    @extend_schema(operation_id="agents_create", request=AgentCreateSerializer,
        responses=responses(one(docs.AgentSerializer), status=201, body=True))
    def post(self, request: Request) -> Response:
        body = _valid(AgentCreateSerializer, request)
        agent = services.agent_create(workspace=request_workspace(request), **body)
        return data(_agent_detail(agent), status.HTTP_201_CREATED)


class AgentDetailView(APIView):
    @extend_schema(operation_id="agents_retrieve",
                   responses=responses(one(docs.AgentSerializer), 404))
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        return data(_agent_detail(agent))

    @extend_schema(operation_id="agents_update", request=AgentUpdateSerializer,
        responses=responses(one(docs.AgentSerializer), 404, body=True))
    def patch(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        changes = _valid(AgentUpdateSerializer, request, partial=True)
        agent = services.agent_update(agent=agent, changes=changes)
        return data(_agent_detail(agent))

    @extend_schema(operation_id="agents_replace", request=AgentUpdateSerializer,
        responses=responses(one(docs.AgentSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, agent_id: str) -> Response:
        return self.patch(request, agent_id)

    @extend_schema(operation_id="agents_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        services.agent_delete(agent=agent)
        return _no_content()


class AgentVersionListView(APIView):
    @extend_schema(operation_id="agent_versions_list",
                   parameters=doc_page_params(),
        responses=responses(many(docs.AgentVersionSerializer), 400, 404))
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        return _page(request, selectors.agent_versions(agent=agent),
                     payloads.agent_version_payload)

    @extend_schema(operation_id="agent_versions_create", request=AgentVersionCreateSerializer,
        responses=responses(one(docs.AgentVersionSerializer), 404, status=201, body=True))
    def post(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        body = _valid(AgentVersionCreateSerializer, request)
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
        version = selectors.agent_version_get(agent=agent, version_id=version.pk)
        return data(payloads.agent_version_payload(version), status.HTTP_201_CREATED)


class AgentVersionDetailView(APIView):
    @extend_schema(operation_id="agent_versions_retrieve",
        responses=responses(one(docs.AgentVersionSerializer), 404))
    def get(self, request: Request, agent_id: str, version_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        version = selectors.agent_version_get(agent=agent, version_id=version_id)
        return data(payloads.agent_version_payload(version))


class AgentVersionPromoteView(APIView):
    @extend_schema(operation_id="agent_versions_promote_put", request=None,
        responses=responses(one(docs.AgentVersionSerializer), 404))
    def put(self, request: Request, agent_id: str, version_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        version = selectors.agent_version_get(agent=agent, version_id=version_id)
        version = services.agent_version_promote(version=version)
        return data(payloads.agent_version_payload(version))

    @extend_schema(operation_id="agent_versions_promote", request=None,
                   responses=responses(one(docs.AgentVersionSerializer), 404))
    def post(self, request: Request, agent_id: str, version_id: str) -> Response:
        return self.put(request, agent_id, version_id)


class AgentPreviewView(APIView):
    @extend_schema(operation_id="agents_preview", request=PreviewSerializer,
        responses=responses(one(docs.AgentPreviewSerializer), 404, body=True))
    def post(self, request: Request, agent_id: str) -> Response:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        body = _valid(PreviewSerializer, request)
        version_id = body.get("version_id")
        if version_id:
            selectors.agent_version_get(agent=agent, version_id=version_id)
        return data(preview_prompts(workspace=workspace, agent=agent,
                                    variables=dict(body.get("input") or {}),
                                    version_id=version_id))


# --- memories ---------------------------------------------------------------------------


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
        responses=responses(many(docs.MemorySerializer), 400, 404))
    def get(self, request: Request, agent_id: str) -> Response:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        params = request.query_params
        memory_type = params.get("memory_type")
        if memory_type and memory_type not in MemoryType.values:
            raise InvalidInput({"memory_type": [f"One of {', '.join(MemoryType.values)}."]})
        qs = memories.memory_list(workspace=workspace, agent=agent, params=params)
        return _page(request, qs, payloads.memory_payload)

    @extend_schema(operation_id="agent_memories_create", request=docs.MemoryWriteSerializer,
        responses=responses(one(docs.MemorySerializer), 404, status=201, body=True))
    def post(self, request: Request, agent_id: str) -> Response:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        memory = memories.memory_create(workspace=workspace, agent=agent, data=_body(request))
        return data(payloads.memory_payload(memory), status.HTTP_201_CREATED)


class AgentMemoryDetailView(APIView):
    def _get(self, request: Request, agent_id: str, memory_id: str) -> Any:
        workspace = request_workspace(request)
        agent = selectors.agent_get(workspace=workspace, agent_id=agent_id)
        return memories.memory_get(workspace=workspace, agent=agent, memory_id=memory_id)

    @extend_schema(operation_id="agent_memories_retrieve",
                   responses=responses(one(docs.MemorySerializer), 404))
    def get(self, request: Request, agent_id: str, memory_id: str) -> Response:
        return data(payloads.memory_payload(self._get(request, agent_id, memory_id)))

    @extend_schema(operation_id="agent_memories_update", request=docs.MemoryWriteSerializer,
        responses=responses(one(docs.MemorySerializer), 404, body=True),
        description="Only the given fields change.")
    def patch(self, request: Request, agent_id: str, memory_id: str) -> Response:
        memory = self._get(request, agent_id, memory_id)
        memory = memories.memory_update(memory=memory, data=_body(request))
        return data(payloads.memory_payload(memory))

    @extend_schema(operation_id="agent_memories_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, agent_id: str, memory_id: str) -> Response:
        memories.memory_delete(memory=self._get(request, agent_id, memory_id))
        return _no_content()


# --- prompts ----------------------------------------------------------------------------


def _prompt_detail(prompt: Any) -> dict[str, Any]:
    return payloads.prompt_payload(prompt, current=selectors.prompt_current_version(prompt=prompt))


def _prompt_listed(prompt: Any) -> dict[str, Any]:
    current = next((v for v in prompt.versions.all() if v.is_current), None)
    return payloads.prompt_payload(prompt, current=current)


class PromptListView(APIView):
    @extend_schema(operation_id="prompts_list",
                   parameters=doc_page_params(*strings("search", "name")),
        responses=responses(many(docs.PromptSerializer), 400))
    def get(self, request: Request) -> Response:
        search = request.query_params.get("search") or request.query_params.get("name")
        qs = selectors.prompt_list(workspace=request_workspace(request), search=search or None)
        return _page(request, qs, _prompt_listed)

    @extend_schema(operation_id="prompts_create", request=PromptCreateSerializer,
        responses=responses(one(docs.PromptSerializer), status=201, body=True))
    def post(self, request: Request) -> Response:
        body = _valid(PromptCreateSerializer, request)
        version_keys = ("system_prompt", "user_prompt", "input_schema", "version")
        initial = None
        if any(key in body for key in version_keys):
            initial = {key: body[key] for key in version_keys if key in body}
            initial["message"] = body.get("message", "")
        prompt = services.prompt_create(
            workspace=request_workspace(request), name=body["name"],
            description=body.get("description", ""), initial_version=initial,
        )
        return data(_prompt_detail(prompt), status.HTTP_201_CREATED)


class PromptDetailView(APIView):
    @extend_schema(operation_id="prompts_retrieve",
                   responses=responses(one(docs.PromptSerializer), 404))
    def get(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        return data(_prompt_detail(prompt))

    @extend_schema(operation_id="prompts_update", request=PromptUpdateSerializer,
        responses=responses(one(docs.PromptSerializer), 404, body=True))
    def patch(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        changes = _valid(PromptUpdateSerializer, request, partial=True)
        return data(_prompt_detail(services.prompt_update(prompt=prompt, changes=changes)))

    @extend_schema(operation_id="prompts_replace", request=PromptUpdateSerializer,
        responses=responses(one(docs.PromptSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, prompt_id: str) -> Response:
        return self.patch(request, prompt_id)

    @extend_schema(operation_id="prompts_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        services.prompt_delete(prompt=prompt)
        return _no_content()


class PromptVersionListView(APIView):
    @extend_schema(operation_id="prompt_versions_list",
                   parameters=doc_page_params(),
        responses=responses(many(docs.PromptVersionSerializer), 400, 404))
    def get(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        return _page(request, selectors.prompt_versions(prompt=prompt),
                     payloads.prompt_version_payload)

    @extend_schema(operation_id="prompt_versions_create", request=PromptVersionCreateSerializer,
        responses=responses(one(docs.PromptVersionSerializer), 404, status=201, body=True))
    def post(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        body = _valid(PromptVersionCreateSerializer, request)
        version = services.prompt_version_create(prompt=prompt, **body)
        return data(payloads.prompt_version_payload(version), status.HTTP_201_CREATED)


class PromptVersionDetailView(APIView):
    @extend_schema(operation_id="prompt_versions_retrieve",
        responses=responses(one(docs.PromptVersionSerializer), 404))
    def get(self, request: Request, prompt_id: str, version_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        version = selectors.prompt_version_get(prompt=prompt, version_id=version_id)
        return data(payloads.prompt_version_payload(version))


class PromptVersionPromoteView(APIView):
    @extend_schema(operation_id="prompt_versions_promote_put", request=None,
        responses=responses(one(docs.PromptVersionSerializer), 404))
    def put(self, request: Request, prompt_id: str, version_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        version = selectors.prompt_version_get(prompt=prompt, version_id=version_id)
        version = services.prompt_version_promote(version=version)
        return data(payloads.prompt_version_payload(version))

    @extend_schema(operation_id="prompt_versions_promote", request=None,
                   responses=responses(one(docs.PromptVersionSerializer), 404))
    def post(self, request: Request, prompt_id: str, version_id: str) -> Response:
        return self.put(request, prompt_id, version_id)


class PromptPreviewView(APIView):
    @extend_schema(operation_id="prompts_preview", request=PreviewSerializer,
        responses=responses(one(docs.PromptPreviewSerializer), 404, body=True))
    def post(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        body = _valid(PreviewSerializer, request)
        version_id = body.get("version_id")
        if version_id:
            version = selectors.prompt_version_get(prompt=prompt, version_id=version_id)
        else:
            current = selectors.prompt_current_version(prompt=prompt)
            if current is None:
                raise InvalidInput(
                    {"version_id": ["The prompt has no current version."]},
                    message="The prompt has no current version.",
                )
            version = current
        variables = dict(body.get("input") or {})
        return data({
            "prompt_id": prompt.pk,
            "version_id": version.pk,
            "system_prompt": render_template(version.system_prompt, variables,
                                             field="system_prompt"),
            "user_prompt": render_template(version.user_prompt, variables, field="user_prompt"),
            "input": variables,
        })


# --- models -----------------------------------------------------------------------------


class LLMModelListView(APIView):
    @extend_schema(operation_id="llm_models_list",
                   parameters=doc_page_params(
        OpenApiParameter("provider", str), OpenApiParameter("is_active", bool)),
        responses=responses(many(docs.LLMModelSerializer), 400))
    def get(self, request: Request) -> Response:
        params = request.query_params
        qs = selectors.llm_model_list(provider=params.get("provider") or None,
                                      is_active=selectors.bool_param(params, "is_active"))
        return _page(request, qs, payloads.llm_model_payload)


class LLMModelAvailableView(APIView):
    @extend_schema(operation_id="llm_models_available",
        responses=responses(one(docs.AvailableModelsSerializer)))
    def get(self, request: Request) -> Response:
        groups = selectors.llm_models_available(workspace=request_workspace(request))
        return data({"groups": [
            {"provider": provider,
             "models": [payloads.available_model_payload(m) for m in models]}
            for provider, models in groups
        ]})


class LLMModelDetailView(APIView):
    @extend_schema(operation_id="llm_models_retrieve",
                   responses=responses(one(docs.LLMModelSerializer), 404))
    def get(self, request: Request, model_pk: str) -> Response:
        return data(payloads.llm_model_payload(selectors.llm_model_get(model_pk=model_pk)))


# --- credentials ------------------------------------------------------------------------


class CredentialListView(APIView):
    @extend_schema(operation_id="credentials_list",
                   parameters=doc_page_params(*strings("type")),
        responses=responses(many(docs.CredentialSerializer), 400))
    def get(self, request: Request) -> Response:
        qs = selectors.credential_list(workspace=request_workspace(request),
                                       type=request.query_params.get("type") or None)
        return _page(request, qs, payloads.credential_payload)

    @extend_schema(operation_id="credentials_create", request=CredentialCreateSerializer,
        responses=responses(one(docs.CredentialSerializer), status=201, body=True))
    def post(self, request: Request) -> Response:
        body = _valid(CredentialCreateSerializer, request)
        credential = services.credential_create(workspace=request_workspace(request), **body)
        return data(payloads.credential_payload(credential), status.HTTP_201_CREATED)


class CredentialDetailView(APIView):
    def _get(self, request: Request, credential_id: str) -> Any:
        return selectors.credential_get(workspace=request_workspace(request),
                                        credential_id=credential_id)

    @extend_schema(operation_id="credentials_retrieve",
        responses=responses(one(docs.CredentialSerializer), 404))
    def get(self, request: Request, credential_id: str) -> Response:
        return data(payloads.credential_payload(self._get(request, credential_id)))

    @extend_schema(operation_id="credentials_update", request=CredentialUpdateSerializer,
        responses=responses(one(docs.CredentialSerializer), 404, body=True))
    def patch(self, request: Request, credential_id: str) -> Response:
        credential = self._get(request, credential_id)
        changes = _valid(CredentialUpdateSerializer, request, partial=True)
        credential = services.credential_update(credential=credential, changes=changes)
        return data(payloads.credential_payload(credential))

    @extend_schema(operation_id="credentials_replace", request=CredentialUpdateSerializer,
        responses=responses(one(docs.CredentialSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, credential_id: str) -> Response:
        return self.patch(request, credential_id)

    @extend_schema(operation_id="credentials_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, credential_id: str) -> Response:
        services.credential_delete(credential=self._get(request, credential_id))
        return _no_content()


class CredentialSetDefaultView(APIView):
    @extend_schema(request=None, responses=responses(one(docs.CredentialSerializer), 404))
    def post(self, request: Request, credential_id: str) -> Response:
        credential = selectors.credential_get(workspace=request_workspace(request),
                                              credential_id=credential_id)
        credential = services.credential_set_default(credential=credential)
        return data(payloads.credential_payload(credential))

    @extend_schema(request=None, responses=responses(one(docs.CredentialSerializer), 404))
    def put(self, request: Request, credential_id: str) -> Response:
        return self.post(request, credential_id)


class CredentialCheckView(APIView):
    @extend_schema(operation_id="credentials_check", request=None,
        responses=responses(one(docs.CredentialCheckSerializer), 400, 404),
        description="400 for a credential type that cannot be checked.")
    def post(self, request: Request, credential_id: str) -> Response:
        credential = selectors.credential_get(workspace=request_workspace(request),
                                              credential_id=credential_id)
        credential, error = services.credential_check(credential=credential)
        body = payloads.credential_payload(credential)
        body["valid"] = bool(credential.is_valid)
        body["check_error"] = error
        return data(body)


# --- tools ------------------------------------------------------------------------------


class ToolListView(APIView):
    @extend_schema(operation_id="mcp_tools_list",
                   parameters=doc_page_params(),
        responses=responses(many(docs.ToolSerializer), 400))
    def get(self, request: Request) -> Response:
        return _page(request, selectors.tool_list(workspace=request_workspace(request)),
                     payloads.tool_payload)

    @extend_schema(operation_id="mcp_tools_create", request=McpToolCreateSerializer,
        responses=responses(one(docs.ToolSerializer), 404, status=201, body=True),
        description="An MCP server as a tool: type `remote_mcp`, config `{url, "
                    "transport_type: http|sse, headers, allowed_tools?, timeout_seconds?}`. "
                    "Header values may use `{{placeholders}}` filled from the linked "
                    "credential when a request is made; headers are returned masked.")
    def post(self, request: Request) -> Response:
        body = _valid(McpToolCreateSerializer, request)
        active = mcp_serializers.active_from(body)
        tool = mcp_services.mcp_tool_create(
            workspace=request_workspace(request), name=body["name"], type=body["type"],
            config=body.get("config"), credential_id=body.get("credential_id"),
            description=body.get("description") or "",
            is_active=True if active is None else active)
        return data(payloads.tool_payload(tool), status.HTTP_201_CREATED)


class ToolDetailView(APIView):
    @extend_schema(operation_id="mcp_tools_retrieve",
                   responses=responses(one(docs.ToolSerializer), 404))
    def get(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        return data(payloads.tool_payload(tool))

    @extend_schema(operation_id="mcp_tools_update", request=McpToolUpdateSerializer,
        responses=responses(one(docs.ToolSerializer), 404, body=True),
        description="A masked header value sent back unchanged keeps the stored value.")
    def patch(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        changes = _valid(McpToolUpdateSerializer, request, partial=True)
        active = mcp_serializers.active_from(changes)
        changes.pop("status", None)
        if active is not None:
            changes["is_active"] = active
        tool = mcp_services.mcp_tool_update(tool=tool, changes=changes)
        return data(payloads.tool_payload(tool))

    @extend_schema(operation_id="mcp_tools_replace", request=McpToolUpdateSerializer,
        responses=responses(one(docs.ToolSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, tool_id: str) -> Response:
        return self.patch(request, tool_id)

    @extend_schema(operation_id="mcp_tools_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        mcp_services.mcp_tool_delete(tool=tool)
        return _no_content()


class ToolDiscoverView(APIView):
    @extend_schema(operation_id="mcp_tools_discover", request=None,
        responses=responses(one(docs.McpDiscoverSerializer), 404, 502),
        description="Ask the MCP server for its tools now (kept on the tool; 502 "
                    "`upstream_error` when it cannot be reached).")
    def post(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        trace_id = mcp_services.new_trace_id()
        tools = mcp_services.mcp_tool_discover(tool=tool, trace_id=trace_id)
        return data({"tools": tools, "trace_id": trace_id})


class ToolCallView(APIView):
    @extend_schema(operation_id="mcp_tools_call", request=McpToolCallSerializer,
        responses=responses(one(docs.McpCallResultSerializer), 404, 502, body=True),
        description="Call one of the server's tools. The tool's own failure is "
                    "`is_error: true`; an unreachable or misbehaving server is 502.")
    def post(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        body = _valid(McpToolCallSerializer, request)
        return data(mcp_services.mcp_tool_call(tool=tool, tool_name=body["tool_name"],
                                               arguments=dict(body.get("arguments") or {})))
