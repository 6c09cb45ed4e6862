"""JSON shapes of the agents app's objects, as the PromptRails clients read them."""

from __future__ import annotations

from typing import Any

from agents.models import (
    Agent,
    AgentVersion,
    Credential,
    LLMModel,
    McpTool,
    Memory,
    Prompt,
    PromptVersion,
)
from promptrails.api.formats import iso


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
