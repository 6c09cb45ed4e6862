"""LLM models (the registry, read-only): output payloads, their OpenAPI description,
the views. Reads are ``agents.selectors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents.api.common import page
from agents.models import LLMModel, Provider
from promptrails.api.formats import iso
from promptrails.api.schema import many, one, responses
from promptrails.api.schema import page_params as doc_page_params
from promptrails.api.views import data, request_workspace

# --- output --------------------------------------------------------------------------------


def _model_flags(model: LLMModel) -> dict[str, Any]:
    return {
        "max_tokens": model.max_tokens,
        "max_output_tokens": model.max_output_tokens,
        "supports_vision": model.supports_vision,
        "supports_tools": model.supports_tools,
        "supports_json": model.provider != "local",
        "supports_streaming": model.supports_streaming,
        "supports_temperature": not model.supports_reasoning,
        "supports_top_p": not model.supports_reasoning,
        "supports_top_k": model.provider == "anthropic",
        "supports_reasoning": model.supports_reasoning,
        "supports_web_search": False,
        "supports_prompt_caching": model.cached_input_price is not None,
        "input_price": model.input_price,
        "output_price": model.output_price,
        "cached_input_price": model.cached_input_price,
        "is_deprecated": model.is_deprecated,
    }


def llm_model_payload(model: LLMModel) -> dict[str, Any]:
    return {
        "id": model.pk,
        "provider": model.provider,
        "model_id": model.model_id,
        "display_name": model.display_name,
        "base_url": model.base_url or None,
        **_model_flags(model),
        "is_active": model.is_active,
        "deprecated_at": None,
        "created_at": iso(model.created_at),
        "updated_at": iso(model.updated_at),
    }


def available_model_payload(model: LLMModel) -> dict[str, Any]:
    return {"id": model.pk, "model_id": model.model_id, "display_name": model.display_name,
            **_model_flags(model)}


# --- documentation -------------------------------------------------------------------------


class _ModelFlags(serializers.Serializer):
    max_tokens = serializers.IntegerField()
    max_output_tokens = serializers.IntegerField()
    supports_vision = serializers.BooleanField()
    supports_tools = serializers.BooleanField()
    supports_json = serializers.BooleanField()
    supports_streaming = serializers.BooleanField()
    supports_temperature = serializers.BooleanField()
    supports_top_p = serializers.BooleanField()
    supports_top_k = serializers.BooleanField()
    supports_reasoning = serializers.BooleanField()
    supports_web_search = serializers.BooleanField()
    supports_prompt_caching = serializers.BooleanField()
    input_price = serializers.FloatField(help_text="USD per 1M input tokens")
    output_price = serializers.FloatField(help_text="USD per 1M output tokens")
    cached_input_price = serializers.FloatField(allow_null=True)
    is_deprecated = serializers.BooleanField()


class LLMModelSerializer(_ModelFlags):
    id = serializers.CharField()
    provider = serializers.ChoiceField(choices=Provider.values)
    model_id = serializers.CharField()
    display_name = serializers.CharField()
    base_url = serializers.CharField(allow_null=True)
    is_active = serializers.BooleanField()
    deprecated_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AvailableModelSerializer(_ModelFlags):
    id = serializers.CharField()
    model_id = serializers.CharField()
    display_name = serializers.CharField()


class ModelGroupSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.values)
    models = AvailableModelSerializer(many=True)


class AvailableModelsSerializer(serializers.Serializer):
    groups = ModelGroupSerializer(many=True)


# --- views ---------------------------------------------------------------------------------


class LLMModelListView(APIView):
    @extend_schema(operation_id="llm_models_list",
                   parameters=doc_page_params(
        OpenApiParameter("provider", str), OpenApiParameter("is_active", bool)),
        responses=responses(many(LLMModelSerializer), 400))
    def get(self, request: Request) -> Response:
        params = request.query_params
        qs = selectors.llm_model_list(provider=params.get("provider") or None,
                                      is_active=selectors.bool_param(params, "is_active"))
        return page(request, qs, llm_model_payload)


class LLMModelAvailableView(APIView):
    @extend_schema(operation_id="llm_models_available",
        responses=responses(one(AvailableModelsSerializer)))
    def get(self, request: Request) -> Response:
        groups = selectors.llm_models_available(workspace=request_workspace(request))
        return data({"groups": [
            {"provider": provider,
             "models": [available_model_payload(m) for m in models]}
            for provider, models in groups
        ]})


class LLMModelDetailView(APIView):
    @extend_schema(operation_id="llm_models_retrieve",
                   responses=responses(one(LLMModelSerializer), 404))
    def get(self, request: Request, model_pk: str) -> Response:
        return data(llm_model_payload(selectors.llm_model_get(model_pk=model_pk)))
