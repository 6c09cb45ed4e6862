"""Prompts and prompt versions: input serializers, output payloads, their OpenAPI
description, the views.

The version list / get / promote views come from ``versions.version_views``; writes are
``agents.services`` (shared version rules in ``agents.versioning``), reads ``agents.selectors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from agents.api.common import (
    AGENT_STATUSES,
    NAME_MAX,
    VERSION_MAX,
    ObjectField,
    PreviewSerializer,
    StrictBooleanField,
    StrictCharField,
    no_content,
    object_field,
    page,
    valid,
)
from agents.api.versions import VersionResource, version_views
from agents.models import Prompt, PromptVersion
from agents.templating import render_template
from promptrails.api.formats import iso
from promptrails.api.schema import many, one, responses, strings
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace
from promptrails.errors import InvalidInput

# --- input ---------------------------------------------------------------------------------


class PromptVersionFields(serializers.Serializer):
    system_prompt = StrictCharField(allow_blank=True, required=False, default="",
                                    trim_whitespace=False, max_length=200_000)
    user_prompt = StrictCharField(allow_blank=True, required=False, default="",
                                  trim_whitespace=False, max_length=200_000)
    input_schema = ObjectField(required=False, default=dict)
    config = ObjectField(required=False, default=dict)
    message = StrictCharField(allow_blank=True, required=False, default="")


class PromptVersionCreateSerializer(PromptVersionFields):
    version = StrictCharField(max_length=VERSION_MAX, required=False, allow_null=True)
    set_current = StrictBooleanField(required=False, default=False)


class PromptCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX)
    description = StrictCharField(allow_blank=True, required=False, default="")
    # Optional initial version (an extension: the SDK sends only name and description).
    system_prompt = StrictCharField(allow_blank=True, required=False, trim_whitespace=False,
                                    max_length=200_000)
    user_prompt = StrictCharField(allow_blank=True, required=False, trim_whitespace=False,
                                  max_length=200_000)
    input_schema = ObjectField(required=False)
    version = StrictCharField(max_length=VERSION_MAX, required=False, allow_null=True)
    message = StrictCharField(allow_blank=True, required=False, default="")


class PromptUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=AGENT_STATUSES, required=False)


# --- output --------------------------------------------------------------------------------


def prompt_version_payload(version: PromptVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "prompt_id": version.prompt_id,
        "version": version.version,
        "system_prompt": version.system_prompt,
        "user_prompt": version.user_prompt,
        "input_schema": version.input_schema,
        "config": version.config,
        "message": version.message,
        "is_current": version.is_current,
        "is_active": version.is_current,
        "created_at": iso(version.created_at),
    }


def prompt_payload(prompt: Prompt, *, current: PromptVersion | None = None) -> dict[str, Any]:
    return {
        "id": prompt.pk,
        "workspace_id": prompt.workspace_id,
        "name": prompt.name,
        "description": prompt.description,
        "status": prompt.status,
        "current_version_id": current.pk if current else None,
        "current_version": prompt_version_payload(current) if current else None,
        "created_at": iso(prompt.created_at),
        "updated_at": iso(prompt.updated_at),
    }


# --- documentation -------------------------------------------------------------------------


class PromptVersionSerializer(serializers.Serializer):
    id = serializers.CharField()
    prompt_id = serializers.CharField()
    version = serializers.CharField()
    system_prompt = serializers.CharField(allow_blank=True)
    user_prompt = serializers.CharField(allow_blank=True)
    input_schema = object_field()
    config = object_field()
    message = serializers.CharField(allow_blank=True)
    is_current = serializers.BooleanField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class PromptSerializer(serializers.Serializer):
    id = serializers.CharField()
    workspace_id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    current_version_id = serializers.CharField(allow_null=True)
    current_version = PromptVersionSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PromptPreviewSerializer(serializers.Serializer):
    prompt_id = serializers.CharField()
    version_id = serializers.CharField()
    system_prompt = serializers.CharField(allow_blank=True)
    user_prompt = serializers.CharField(allow_blank=True)
    input = object_field()


# --- views ---------------------------------------------------------------------------------


def _prompt_detail(prompt: Any) -> dict[str, Any]:
    return prompt_payload(prompt, current=selectors.prompt_current_version(prompt=prompt))


def _prompt_listed(prompt: Any) -> dict[str, Any]:
    current = next((v for v in prompt.versions.all() if v.is_current), None)
    return prompt_payload(prompt, current=current)


class PromptListView(APIView):
    @extend_schema(operation_id="prompts_list",
                   parameters=doc_page_params(*strings("search", "name")),
        responses=responses(many(PromptSerializer), 400))
    def get(self, request: Request) -> Response:
        search = request.query_params.get("search") or request.query_params.get("name")
        qs = selectors.prompt_list(workspace=request_workspace(request), search=search or None)
        return page(request, qs, _prompt_listed)

    @extend_schema(operation_id="prompts_create", request=PromptCreateSerializer,
        responses=responses(one(PromptSerializer), status=201, body=True))
    def post(self, request: Request) -> Response:
        body = valid(PromptCreateSerializer, request)
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
                   responses=responses(one(PromptSerializer), 404))
    def get(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        return data(_prompt_detail(prompt))

    @extend_schema(operation_id="prompts_update", request=PromptUpdateSerializer,
        responses=responses(one(PromptSerializer), 404, body=True))
    def patch(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        changes = valid(PromptUpdateSerializer, request, partial=True)
        return data(_prompt_detail(services.prompt_update(prompt=prompt, changes=changes)))

    @extend_schema(operation_id="prompts_replace", request=PromptUpdateSerializer,
        responses=responses(one(PromptSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, prompt_id: str) -> Response:
        return self.patch(request, prompt_id)

    @extend_schema(operation_id="prompts_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        services.prompt_delete(prompt=prompt)
        return no_content()


def _prompt_version_create(prompt: Prompt, body: dict[str, Any]) -> PromptVersion:
    return services.prompt_version_create(prompt=prompt, **body)


PROMPT_VERSIONS = VersionResource(
    operation_prefix="prompt_versions",
    parent_kwarg="prompt_id",
    parent_get=lambda workspace, pk: selectors.prompt_get(workspace=workspace, prompt_id=pk),
    versions=lambda prompt: selectors.prompt_versions(prompt=prompt),
    version_get=lambda prompt, pk: selectors.prompt_version_get(prompt=prompt, version_id=pk),
    promote=lambda version: services.prompt_version_promote(version=version),
    payload=prompt_version_payload,
    doc=PromptVersionSerializer,
    create_request=PromptVersionCreateSerializer,
    create=_prompt_version_create,
)

PromptVersionListView, PromptVersionDetailView, PromptVersionPromoteView = version_views(
    PROMPT_VERSIONS)


class PromptPreviewView(APIView):
    @extend_schema(operation_id="prompts_preview", request=PreviewSerializer,
        responses=responses(one(PromptPreviewSerializer), 404, body=True))
    def post(self, request: Request, prompt_id: str) -> Response:
        prompt = selectors.prompt_get(workspace=request_workspace(request), prompt_id=prompt_id)
        body = valid(PreviewSerializer, request)
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
