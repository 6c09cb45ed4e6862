"""Read-side queries of the agents app (workspace-scoped via promptrails.tenancy.scoped)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from agents.models import (
    Agent,
    AgentVersion,
    Credential,
    LLMModel,
    McpTool,
    Prompt,
    PromptVersion,
    Provider,
)
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped, scoped_get

PROVIDER_ENV_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def bool_param(params: Any, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    lowered = str(raw).lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInput({name: [f"{name} must be true or false."]})


# --- agents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentFilters:
    type: str | None = None
    status: str | None = None
    name: str | None = None
    search: str | None = None


def agent_list(*, workspace: Workspace, filters: AgentFilters) -> QuerySet[Agent]:
    current = AgentVersion.objects.filter(agent=OuterRef("pk"), is_current=True).values("pk")[:1]
    qs = scoped(Agent.objects.all(), workspace).annotate(current_version_pk=Subquery(current))
    if filters.type:
        qs = qs.filter(type=filters.type)
    if filters.status:
        qs = qs.filter(status=filters.status)
    for term in (filters.name, filters.search):
        if term:
            qs = qs.filter(name__icontains=term)
    return qs.order_by("-created_at", "-id")


def agent_get(*, workspace: Workspace, agent_id: str) -> Agent:
    agent = scoped_get(Agent.objects.all(), workspace, agent_id, "agent")
    return agent


def agent_versions(*, agent: Agent) -> QuerySet[AgentVersion]:
    return (
        AgentVersion.objects.filter(agent=agent)
        .prefetch_related("tool_links__tool")
        .order_by("-created_at", "-id")
    )


def agent_version_get(*, agent: Agent, version_id: str) -> AgentVersion:
    version = agent_versions(agent=agent).filter(pk=version_id).first()
    if version is None:
        raise NotFound("agent version")
    return version


def agent_current_version(*, agent: Agent) -> AgentVersion | None:
    return agent_versions(agent=agent).filter(is_current=True).first()


# --- prompts ----------------------------------------------------------------------------


def prompt_list(*, workspace: Workspace, search: str | None = None) -> QuerySet[Prompt]:
    qs = scoped(Prompt.objects.all(), workspace).prefetch_related("versions")
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("-created_at", "-id")


def prompt_get(*, workspace: Workspace, prompt_id: str) -> Prompt:
    prompt = scoped_get(Prompt.objects.all(), workspace, prompt_id, "prompt")
    return prompt


def prompt_versions(*, prompt: Prompt) -> QuerySet[PromptVersion]:
    return PromptVersion.objects.filter(prompt=prompt).order_by("-created_at", "-id")


def prompt_version_get(*, prompt: Prompt, version_id: str) -> PromptVersion:
    version = prompt_versions(prompt=prompt).filter(pk=version_id).first()
    if version is None:
        raise NotFound("prompt version")
    return version


def prompt_current_version(*, prompt: Prompt) -> PromptVersion | None:
    return prompt_versions(prompt=prompt).filter(is_current=True).first()


# --- models -----------------------------------------------------------------------------


def llm_model_list(*, provider: str | None = None, is_active: bool | None = None
                   ) -> QuerySet[LLMModel]:
    qs = LLMModel.objects.all()
    if provider:
        qs = qs.filter(provider=provider)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    return qs.order_by("provider", "model_id")


def llm_model_get(*, model_pk: str) -> LLMModel:
    model = LLMModel.objects.filter(pk=model_pk).first()
    if model is None:
        raise NotFound("LLM model")
    return model


def llm_model_resolve(*, ref: str) -> LLMModel | None:
    """An LLM model named by its id or by its provider model_id string (active first)."""
    return (
        LLMModel.objects.filter(Q(pk=ref) | Q(model_id=ref))
        .order_by("-is_active", "provider")
        .first()
    )


def usable_providers(*, workspace: Workspace) -> set[str]:
    providers = {Provider.LOCAL.value}
    for provider, env_key in PROVIDER_ENV_KEYS.items():
        if os.environ.get(env_key):
            providers.add(provider)
    providers.update(
        scoped(Credential.objects.all(), workspace)
        .filter(type__in=list(PROVIDER_ENV_KEYS))
        .values_list("type", flat=True)
    )
    return providers


def llm_models_available(*, workspace: Workspace) -> list[tuple[str, list[LLMModel]]]:
    providers = usable_providers(workspace=workspace)
    models = (
        LLMModel.objects.filter(is_active=True)
        .filter(Q(provider__in=providers) | ~Q(base_url=""))
        .order_by("provider", "model_id")
    )
    groups: dict[str, list[LLMModel]] = {}
    for model in models:
        groups.setdefault(model.provider, []).append(model)
    return list(groups.items())


# --- credentials and tools ----------------------------------------------------------------


def credential_list(*, workspace: Workspace, type: str | None = None) -> QuerySet[Credential]:
    qs = scoped(Credential.objects.all(), workspace)
    if type:
        qs = qs.filter(type=type)
    return qs.order_by("-created_at", "-id")


def credential_get(*, workspace: Workspace, credential_id: str) -> Credential:
    credential = scoped_get(Credential.objects.all(), workspace, credential_id, "credential")
    return credential


def credential_for_provider(*, workspace: Workspace, provider: str) -> Credential | None:
    """The workspace's default credential of this type, else its newest one of that type."""
    return (
        scoped(Credential.objects.all(), workspace)
        .filter(type=provider)
        .order_by("-is_default", "-created_at", "-id")
        .first()
    )


def tool_list(*, workspace: Workspace) -> QuerySet[McpTool]:
    return scoped(McpTool.objects.all(), workspace).order_by("name", "id")


def tool_get(*, workspace: Workspace, tool_id: str) -> McpTool:
    tool = scoped_get(McpTool.objects.all(), workspace, tool_id, "tool")
    return tool
