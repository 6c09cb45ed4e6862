"""REST views of the agents app: validate, scope to the workspace, delegate, envelope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import payloads, selectors, services
from agents.preparation import preview_prompts
from agents.serializers import (
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
from promptrails.api.errors import validation_error
from promptrails.api.pagination import page_params, paginate
from promptrails.api.views import data, request_workspace


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
    def get(self, request: Request) -> Response:
        params = request.query_params
        filters = selectors.AgentFilters(
            type=params.get("type") or None, status=params.get("status") or None,
            name=params.get("name") or None, search=params.get("search") or None,
        )
        qs = selectors.agent_list(workspace=request_workspace(request), filters=filters)
        return _page(request, qs, payloads.agent_payload)

    def post(self, request: Request) -> Response:
        body = _valid(AgentCreateSerializer, request)
        agent = services.agent_create(workspace=request_workspace(request), **body)
        return data(_agent_detail(agent), status.HTTP_201_CREATED)


class AgentDetailView(APIView):
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        return data(_agent_detail(agent))

    def patch(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        changes = _valid(AgentUpdateSerializer, request, partial=True)
        agent = services.agent_update(agent=agent, changes=changes)
        return data(_agent_detail(agent))

    def put(self, request: Request, agent_id: str) -> Response:
        return self.patch(request, agent_id)

    def delete(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        services.agent_delete(agent=agent)
        return _no_content()


class AgentVersionListView(APIView):
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        return _page(request, selectors.agent_versions(agent=agent),
                     payloads.agent_version_payload)

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
    def get(self, request: Request, agent_id: str, version_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        version = selectors.agent_version_get(agent=agent, version_id=version_id)
        return data(payloads.agent_version_payload(version))


class AgentVersionPromoteView(APIView):
    def put(self, request: Request, agent_id: str, version_id: str) -> Response:
        agent = selectors.agent_get(workspace=request_workspace(request), agent_id=agent_id)
        version = selectors.agent_version_get(agent=agent, version_id=version_id)
        version = services.agent_version_promote(version=version)
        return data(payloads.agent_version_payload(version))

    post = put


class AgentPreviewView(APIView):
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


# --- prompts ----------------------------------------------------------------------------


def _prompt_detail(prompt: Any) -> dict[str, Any]:
    return payloads.prompt_payload(prompt, current=selectors.prompt_current_version(prompt=prompt))


def _prompt_listed(prompt: Any) -> dict[str, Any]:
    current = next((v for v in prompt.versions.all() if v.is_current), None)
    return payloads.prompt_payload(prompt, current=current)


class PromptListView(APIView):
    def get(self, request: Request) -> Response:
        search = request.query_params.get("search") or request.query_params.get("name")
        qs = selectors.prompt_list(workspace=request_workspace(request), search=search or None)
        return _page(request, qs, _prompt_listed)

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
    def get(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        return data(_prompt_detail(prompt))

    def patch(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        changes = _valid(PromptUpdateSerializer, request, partial=True)
        return data(_prompt_detail(services.prompt_update(prompt=prompt, changes=changes)))

    def put(self, request: Request, prompt_id: str) -> Response:
        return self.patch(request, prompt_id)

    def delete(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        services.prompt_delete(prompt=prompt)
        return _no_content()


class PromptVersionListView(APIView):
    def get(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        return _page(request, selectors.prompt_versions(prompt=prompt),
                     payloads.prompt_version_payload)

    def post(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        body = _valid(PromptVersionCreateSerializer, request)
        version = services.prompt_version_create(prompt=prompt, **body)
        return data(payloads.prompt_version_payload(version), status.HTTP_201_CREATED)


class PromptVersionDetailView(APIView):
    def get(self, request: Request, prompt_id: str, version_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        version = selectors.prompt_version_get(prompt=prompt, version_id=version_id)
        return data(payloads.prompt_version_payload(version))


class PromptVersionPromoteView(APIView):
    def put(self, request: Request, prompt_id: str, version_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        version = selectors.prompt_version_get(prompt=prompt, version_id=version_id)
        version = services.prompt_version_promote(version=version)
        return data(payloads.prompt_version_payload(version))

    post = put


class PromptPreviewView(APIView):
    def post(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        body = _valid(PreviewSerializer, request)
        version_id = body.get("version_id")
        if version_id:
            version = selectors.prompt_version_get(prompt=prompt, version_id=version_id)
        else:
            current = selectors.prompt_current_version(prompt=prompt)
            if current is None:
                raise validation_error(
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
    def get(self, request: Request) -> Response:
        params = request.query_params
        qs = selectors.llm_model_list(provider=params.get("provider") or None,
                                      is_active=selectors.bool_param(params, "is_active"))
        return _page(request, qs, payloads.llm_model_payload)


class LLMModelAvailableView(APIView):
    def get(self, request: Request) -> Response:
        groups = selectors.llm_models_available(workspace=request_workspace(request))
        return data({"groups": [
            {"provider": provider,
             "models": [payloads.available_model_payload(m) for m in models]}
            for provider, models in groups
        ]})


class LLMModelDetailView(APIView):
    def get(self, request: Request, model_pk: str) -> Response:
        return data(payloads.llm_model_payload(selectors.llm_model_get(model_pk=model_pk)))


# --- credentials ------------------------------------------------------------------------


class CredentialListView(APIView):
    def get(self, request: Request) -> Response:
        qs = selectors.credential_list(workspace=request_workspace(request),
                                       type=request.query_params.get("type") or None)
        return _page(request, qs, payloads.credential_payload)

    def post(self, request: Request) -> Response:
        body = _valid(CredentialCreateSerializer, request)
        credential = services.credential_create(workspace=request_workspace(request), **body)
        return data(payloads.credential_payload(credential), status.HTTP_201_CREATED)


class CredentialDetailView(APIView):
    def _get(self, request: Request, credential_id: str) -> Any:
        return selectors.credential_get(workspace=request_workspace(request),
                                        credential_id=credential_id)

    def get(self, request: Request, credential_id: str) -> Response:
        return data(payloads.credential_payload(self._get(request, credential_id)))

    def patch(self, request: Request, credential_id: str) -> Response:
        credential = self._get(request, credential_id)
        changes = _valid(CredentialUpdateSerializer, request, partial=True)
        credential = services.credential_update(credential=credential, changes=changes)
        return data(payloads.credential_payload(credential))

    def put(self, request: Request, credential_id: str) -> Response:
        return self.patch(request, credential_id)

    def delete(self, request: Request, credential_id: str) -> Response:
        services.credential_delete(credential=self._get(request, credential_id))
        return _no_content()


class CredentialSetDefaultView(APIView):
    def post(self, request: Request, credential_id: str) -> Response:
        credential = selectors.credential_get(workspace=request_workspace(request),
                                              credential_id=credential_id)
        credential = services.credential_set_default(credential=credential)
        return data(payloads.credential_payload(credential))

    put = post


class CredentialCheckView(APIView):
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
    def get(self, request: Request) -> Response:
        return _page(request, selectors.tool_list(workspace=request_workspace(request)),
                     payloads.tool_payload)


class ToolDetailView(APIView):
    def get(self, request: Request, tool_id: str) -> Response:
        tool = selectors.tool_get(workspace=request_workspace(request), tool_id=tool_id)
        return data(payloads.tool_payload(tool))
