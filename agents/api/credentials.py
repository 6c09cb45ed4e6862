"""Credentials: input serializers, output payload (never the value), its OpenAPI
description, the views. Writes are ``agents.services``, reads ``agents.selectors``; the
shape of a value is checked by ``agents.credential_values``.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from agents.api.common import (
    NAME_MAX,
    StrictBooleanField,
    StrictCharField,
    no_content,
    page,
    valid,
)
from agents.credential_values import check_credential_value
from agents.models import Credential
from promptrails.api.formats import iso
from promptrails.api.schema import many, one, responses, strings
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace

CREDENTIAL_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
MAX_VALUE_CHARS = 10_000


# --- input ---------------------------------------------------------------------------------


def _credential_type(value: str) -> str:
    value = value.strip().lower()
    if not CREDENTIAL_TYPE_RE.match(value):
        raise serializers.ValidationError(
            "type must be a short lowercase name such as openai or anthropic."
        )
    return value


class CredentialCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX)
    type = StrictCharField(max_length=32, required=False, validators=[])
    provider = StrictCharField(max_length=32, required=False)
    category = StrictCharField(max_length=32, required=False, default="llm")
    value = StrictCharField(max_length=MAX_VALUE_CHARS, required=False, trim_whitespace=False)
    api_key = StrictCharField(max_length=MAX_VALUE_CHARS, required=False, trim_whitespace=False)
    description = StrictCharField(allow_blank=True, required=False, default="")
    is_default = StrictBooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        raw_type = attrs.get("type") or attrs.get("provider")
        if not raw_type:
            raise serializers.ValidationError({"type": ["This field is required."]})
        value = attrs.get("value") if "value" in attrs else attrs.get("api_key")
        if value is None or not value.strip():
            raise serializers.ValidationError({"value": ["This field is required."]})
        try:
            type_ = _credential_type(raw_type)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"type": exc.detail}) from None
        check_credential_value(type_, value)
        return {
            "name": attrs["name"],
            "type": type_,
            "category": attrs.get("category") or "llm",
            "value": value,
            "description": attrs.get("description", ""),
            "is_default": attrs.get("is_default", False),
        }


class CredentialUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX, required=False)
    category = StrictCharField(max_length=32, required=False)
    description = StrictCharField(allow_blank=True, required=False)
    value = StrictCharField(max_length=MAX_VALUE_CHARS, required=False, trim_whitespace=False)
    is_default = StrictBooleanField(required=False)


# --- output --------------------------------------------------------------------------------


def credential_payload(credential: Credential) -> dict[str, Any]:
    return {
        "id": credential.pk,
        "workspace_id": credential.workspace_id,
        "name": credential.name,
        "type": credential.type,
        "category": credential.category,
        "description": credential.description,
        "masked_content": credential.masked_content,
        "is_default": credential.is_default,
        "is_valid": credential.is_valid,
        "last_checked_at": iso(credential.last_checked_at),
        "schema_type": "",
        "has_schema": False,
        "schema_updated_at": None,
        "created_by_id": None,
        "created_at": iso(credential.created_at),
        "updated_at": iso(credential.updated_at),
    }


# --- documentation -------------------------------------------------------------------------


class CredentialSerializer(serializers.Serializer):
    id = serializers.CharField()
    workspace_id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    category = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    masked_content = serializers.CharField(allow_blank=True,
                                 help_text="First 4 + `...` + last 4; the value is never returned.")
    is_default = serializers.BooleanField()
    # a field named like Serializer.is_valid (the metaclass moves it to _declared_fields)
    is_valid = serializers.BooleanField(allow_null=True)  # type: ignore[assignment]
    last_checked_at = serializers.DateTimeField(allow_null=True)
    schema_type = serializers.CharField(allow_blank=True)
    has_schema = serializers.BooleanField()
    schema_updated_at = serializers.DateTimeField(allow_null=True)
    created_by_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CredentialCheckSerializer(CredentialSerializer):
    valid = serializers.BooleanField()
    check_error = serializers.CharField(allow_null=True)


# --- views ---------------------------------------------------------------------------------


class CredentialListView(APIView):
    @extend_schema(operation_id="credentials_list",
                   parameters=doc_page_params(*strings("type")),
        responses=responses(many(CredentialSerializer), 400))
    def get(self, request: Request) -> Response:
        qs = selectors.credential_list(workspace=request_workspace(request),
                                       type=request.query_params.get("type") or None)
        return page(request, qs, credential_payload)

    @extend_schema(operation_id="credentials_create", request=CredentialCreateSerializer,
        responses=responses(one(CredentialSerializer), status=201, body=True))
    def post(self, request: Request) -> Response:
        body = valid(CredentialCreateSerializer, request)
        credential = services.credential_create(workspace=request_workspace(request), **body)
        return data(credential_payload(credential), status.HTTP_201_CREATED)


class CredentialDetailView(APIView):
    def _get(self, request: Request, credential_id: str) -> Any:
        return selectors.credential_get(workspace=request_workspace(request),
                                        credential_id=credential_id)

    @extend_schema(operation_id="credentials_retrieve",
        responses=responses(one(CredentialSerializer), 404))
    def get(self, request: Request, credential_id: str) -> Response:
        return data(credential_payload(self._get(request, credential_id)))

    @extend_schema(operation_id="credentials_update", request=CredentialUpdateSerializer,
        responses=responses(one(CredentialSerializer), 404, body=True))
    def patch(self, request: Request, credential_id: str) -> Response:
        credential = self._get(request, credential_id)
        changes = valid(CredentialUpdateSerializer, request, partial=True)
        credential = services.credential_update(credential=credential, changes=changes)
        return data(credential_payload(credential))

    @extend_schema(operation_id="credentials_replace", request=CredentialUpdateSerializer,
        responses=responses(one(CredentialSerializer), 404, body=True),
        description="Same as PATCH: only the given fields change.")
    def put(self, request: Request, credential_id: str) -> Response:
        return self.patch(request, credential_id)

    @extend_schema(operation_id="credentials_delete",
                   responses=responses(None, 404, status=204))
    def delete(self, request: Request, credential_id: str) -> Response:
        services.credential_delete(credential=self._get(request, credential_id))
        return no_content()


class CredentialSetDefaultView(APIView):
    @extend_schema(request=None, responses=responses(one(CredentialSerializer), 404))
    def post(self, request: Request, credential_id: str) -> Response:
        credential = selectors.credential_get(workspace=request_workspace(request),
                                              credential_id=credential_id)
        credential = services.credential_set_default(credential=credential)
        return data(credential_payload(credential))

    @extend_schema(request=None, responses=responses(one(CredentialSerializer), 404))
    def put(self, request: Request, credential_id: str) -> Response:
        return self.post(request, credential_id)


class CredentialCheckView(APIView):
    @extend_schema(operation_id="credentials_check", request=None,
        responses=responses(one(CredentialCheckSerializer), 400, 404),
        description="400 for a credential type that cannot be checked.")
    def post(self, request: Request, credential_id: str) -> Response:
        credential = selectors.credential_get(workspace=request_workspace(request),
                                              credential_id=credential_id)
        credential, error = services.credential_check(credential=credential)
        body = credential_payload(credential)
        body["valid"] = bool(credential.is_valid)
        body["check_error"] = error
        return data(body)
