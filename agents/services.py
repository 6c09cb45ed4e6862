"""Writes of the agents app: agents, versions, prompts, credentials, built-in tools."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from agents.credential_values import check_credential_value
from agents.crypto import DecryptionError, decrypt_value, encrypt_value, mask_value, split_value
from agents.models import (
    Agent,
    AgentVersion,
    AgentVersionTool,
    Credential,
    McpTool,
    Prompt,
    PromptVersion,
)
from agents.runtime.providers import check_credentials
from agents.runtime.tools import BUILTIN_TOOLS
from agents.runtime.types import ModelSpec
from agents.selectors import credential_list, llm_model_resolve
from agents.signals import configuration_changed
from agents.templating import validate_template
from agents.versioning import Versioned
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped

DEMO_PROMPT_NAME = "Demo assistant"
DEMO_AGENT_NAME = "Demo agent"
DEMO_SYSTEM_PROMPT = (
    "You are a friendly, concise assistant. Answer clearly, ask when something is "
    "ambiguous, and use the calculator or clock tools when a question needs them."
)
CHECKABLE_PROVIDERS = ("openai", "anthropic", "local")


AGENT_VERSIONS = Versioned(model=AgentVersion, parent_model=Agent, parent_field="agent")
PROMPT_VERSIONS = Versioned(model=PromptVersion, parent_model=Prompt, parent_field="prompt")


# --- agents -----------------------------------------------------------------------------


def agent_create(*, workspace: Workspace, name: str, type: str = "agent", description: str = "",
                 status: str = "active", labels: list[str] | None = None) -> Agent:
    return Agent.objects.create(workspace=workspace, name=name, type=type,
                                description=description, status=status, labels=labels or [])


def agent_update(*, agent: Agent, changes: dict[str, Any]) -> Agent:
    allowed = {"name", "description", "type", "status", "labels"}
    fields = [key for key in changes if key in allowed]
    for key in fields:
        setattr(agent, key, changes[key])
    if fields:
        agent.save(update_fields=[*fields, "updated_at"])
    return agent


def agent_delete(*, agent: Agent) -> None:
    agent.delete()


def _check_model_ref(ref: str | None, field: str) -> None:
    if ref and llm_model_resolve(ref=ref) is None:
        raise InvalidInput(
            {field: [f"Unknown model {ref!r}: use an LLM model id or provider model_id."]}
        )


def _workspace_tools(workspace: Workspace, tool_ids: list[str]) -> dict[str, McpTool]:
    """The workspace's tools of `tool_ids` by id; 404 naming the first one it lacks."""
    found = {t.pk: t for t in scoped(McpTool.objects.all(), workspace).filter(pk__in=tool_ids)}
    missing = [tid for tid in tool_ids if tid not in found]
    if missing:
        raise NotFound(message=f"Tool {missing[0]!r} not found in this workspace.")
    return found


@transaction.atomic
def agent_version_create(
    *,
    agent: Agent,
    config: dict[str, Any],
    version: str | None = None,
    set_current: bool = False,
    message: str = "",
    input_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    run_budget: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> AgentVersion:
    """Create a version; the agent's first version (or ``set_current``) becomes current."""
    workspace = agent.workspace
    config = {k: v for k, v in config.items() if v is not None}
    if config.get("type", "agent") == "agent":
        # new versions summarize what outgrows the window unless they say otherwise;
        # versions stored before context strategies (no "context") keep the window
        config.setdefault("context", {"strategy": "summary"})
        prompt_id = config.get("prompt_id")
        if not scoped(Prompt.objects.all(), workspace).filter(pk=prompt_id).exists():
            raise NotFound(message=f"Prompt {prompt_id!r} not found in this workspace.")
    model_config = {k: v for k, v in (model_config or {}).items()}
    _check_model_ref(model_config.get("model_id"), "model_config.model_id")
    _check_model_ref(model_config.get("fallback_model_id"), "model_config.fallback_model_id")
    tools = tools or []
    found = _workspace_tools(workspace, [t["mcp_tool_id"] for t in tools])
    created = AGENT_VERSIONS.create(
        parent=agent, version=version, set_current=set_current, fields={
        "message": message or "",
        "config": config,
        "input_schema": input_schema or {},
        "output_schema": output_schema,
        "model_config": model_config,
        "run_budget": {k: v for k, v in (run_budget or {}).items() if v is not None},
        })
    AgentVersionTool.objects.bulk_create(
        AgentVersionTool(
            version=created,
            tool=found[t["mcp_tool_id"]],
            requires_approval=t.get("requires_approval", False),
            no_retry=t.get("no_retry", False),
            sort_order=t["sort_order"] if t.get("sort_order") is not None else index,
        )
        for index, t in enumerate(tools)
    )
    return created


@transaction.atomic
def agent_version_promote(*, version: AgentVersion) -> AgentVersion:
    return AGENT_VERSIONS.promote(version)


# --- prompts ----------------------------------------------------------------------------


@transaction.atomic
def prompt_create(*, workspace: Workspace, name: str, description: str = "",
                  initial_version: dict[str, Any] | None = None) -> Prompt:
    prompt = Prompt.objects.create(workspace=workspace, name=name, description=description)
    if initial_version is not None:
        prompt_version_create(prompt=prompt, set_current=True, **initial_version)
    return prompt


def prompt_update(*, prompt: Prompt, changes: dict[str, Any]) -> Prompt:
    fields = [key for key in changes if key in {"name", "description", "status"}]
    for key in fields:
        setattr(prompt, key, changes[key])
    if fields:
        prompt.save(update_fields=[*fields, "updated_at"])
    return prompt


def prompt_delete(*, prompt: Prompt) -> None:
    prompt.delete()


@transaction.atomic
def prompt_version_create(
    *,
    prompt: Prompt,
    system_prompt: str = "",
    user_prompt: str = "",
    version: str | None = None,
    input_schema: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    message: str = "",
    set_current: bool = False,
) -> PromptVersion:
    """Create a prompt version (templates must parse); the first one becomes current."""
    validate_template(system_prompt, field="system_prompt")
    validate_template(user_prompt, field="user_prompt")
    return PROMPT_VERSIONS.create(
        parent=prompt, version=version, set_current=set_current, fields={
        "system_prompt": system_prompt,
        "user_prompt": user_prompt,
        "input_schema": input_schema or {},
        "config": config or {},
        "message": message or "",
        })


@transaction.atomic
def prompt_version_promote(*, version: PromptVersion) -> PromptVersion:
    return PROMPT_VERSIONS.promote(version)


# --- credentials ------------------------------------------------------------------------


def _unset_other_defaults(credential: Credential) -> None:
    credential_list(workspace=credential.workspace, type=credential.type).exclude(
        pk=credential.pk
    ).filter(is_default=True).update(is_default=False)
    configuration_changed(credential)  # update() sends no signal


@transaction.atomic
def credential_create(*, workspace: Workspace, name: str, type: str, value: str,
                      category: str = "llm", description: str = "",
                      is_default: bool = False) -> Credential:
    """Store an encrypted credential; the first of its type becomes the default."""
    check_credential_value(type, value)
    first_of_type = not credential_list(workspace=workspace, type=type).exists()
    credential = Credential.objects.create(
        workspace=workspace,
        name=name,
        type=type,
        category=category,
        description=description,
        encrypted_value=encrypt_value(value),
        masked_content=mask_value(value),
        is_default=is_default or first_of_type,
    )
    if credential.is_default:
        _unset_other_defaults(credential)
    return credential


@transaction.atomic
def credential_update(*, credential: Credential, changes: dict[str, Any]) -> Credential:
    fields: list[str] = []
    for key in ("name", "category", "description"):
        if key in changes:
            setattr(credential, key, changes[key])
            fields.append(key)
    if "value" in changes:
        check_credential_value(credential.type, changes["value"])
        credential.encrypted_value = encrypt_value(changes["value"])
        credential.masked_content = mask_value(changes["value"])
        credential.is_valid = None
        credential.last_checked_at = None
        fields += ["encrypted_value", "masked_content", "is_valid", "last_checked_at"]
    if "is_default" in changes:
        credential.is_default = changes["is_default"]
        fields.append("is_default")
    if fields:
        credential.save(update_fields=[*fields, "updated_at"])
    if credential.is_default:
        _unset_other_defaults(credential)
    return credential


def credential_delete(*, credential: Credential) -> None:
    credential.delete()


@transaction.atomic
def credential_set_default(*, credential: Credential) -> Credential:
    _unset_other_defaults(credential)
    if not credential.is_default:
        credential.is_default = True
        credential.save(update_fields=["is_default", "updated_at"])
    return credential


def credential_secret(*, credential: Credential) -> tuple[str, str | None]:
    """(api_key, base_url) of a credential, decrypted."""
    try:
        return split_value(decrypt_value(credential.encrypted_value))
    except DecryptionError as exc:
        raise InvalidInput({"value": [str(exc)]}, message=str(exc)) from None


def credential_check(*, credential: Credential) -> tuple[Credential, str | None]:
    """A cheap real provider call with this credential; records is_valid/last_checked_at."""
    if credential.type not in CHECKABLE_PROVIDERS:
        raise InvalidInput(
            {"type": [f"Credentials of type {credential.type!r} cannot be checked."]},
            message=f"Credentials of type {credential.type!r} cannot be checked.",
        )
    api_key, base_url = credential_secret(credential=credential)
    spec = ModelSpec(provider=credential.type, model_id="", api_key=api_key or None,
                     base_url=base_url)
    ok, error = async_to_sync(check_credentials)(spec)
    credential.is_valid = ok
    credential.last_checked_at = timezone.now()
    credential.save(update_fields=["is_valid", "last_checked_at", "updated_at"])
    return credential, error


# --- built-in tools and the demo agent ------------------------------------------------------


def builtin_tools_ensure(*, workspace: Workspace) -> list[McpTool]:
    """Register every built-in tool for the workspace (idempotent; refreshes the schema)."""
    tools = []
    for name, builtin in BUILTIN_TOOLS.items():
        tool, _ = McpTool.objects.update_or_create(
            workspace=workspace,
            name=name,
            defaults={
                "type": "builtin",
                "description": builtin.description,
                "schema": builtin.parameters,
                "config": {"builtin": name},
            },
        )
        tools.append(tool)
    return tools


@transaction.atomic
def demo_agent_ensure(*, workspace: Workspace) -> Agent:
    """The demo prompt and agent on the offline model (idempotent by name)."""
    tools = builtin_tools_ensure(workspace=workspace)
    prompt = scoped(Prompt.objects.all(), workspace).filter(name=DEMO_PROMPT_NAME).first()
    if prompt is None:
        prompt = prompt_create(
            workspace=workspace,
            name=DEMO_PROMPT_NAME,
            description="A friendly general-purpose assistant.",
            initial_version={"system_prompt": DEMO_SYSTEM_PROMPT, "user_prompt": "",
                             "version": "1.0.0", "message": "demo"},
        )
    agent = scoped(Agent.objects.all(), workspace).filter(name=DEMO_AGENT_NAME).first()
    if agent is None:
        agent = agent_create(
            workspace=workspace,
            name=DEMO_AGENT_NAME,
            description="Runs offline on the built-in local model; try 'what is 2+2?'.",
            labels=["demo"],
        )
    if not AgentVersion.objects.filter(agent=agent, is_current=True).exists():
        agent_version_create(
            agent=agent,
            config={"type": "agent", "prompt_id": prompt.pk},
            set_current=True,
            message="demo",
            model_config={"model_id": "echo"},
            run_budget={"max_tool_calls": 5},
            tools=[{"mcp_tool_id": t.pk, "sort_order": i} for i, t in enumerate(tools)],
        )
    return agent


APPROVAL_DEMO_AGENT_NAME = "Approval demo"


@transaction.atomic
def approval_demo_agent_ensure(*, workspace: Workspace) -> Agent:
    """The demo agent with its calculator attached ``requires_approval`` (idempotent by
    name): ``/tool calculator {"expression": "6*7"}`` parks the turn until someone
    approves or denies it (the chat page, the API, the admin inbox)."""
    demo_agent_ensure(workspace=workspace)
    tools = builtin_tools_ensure(workspace=workspace)
    prompt = scoped(Prompt.objects.all(), workspace).filter(name=DEMO_PROMPT_NAME).first()
    agent = scoped(Agent.objects.all(), workspace).filter(name=APPROVAL_DEMO_AGENT_NAME).first()
    if agent is None:
        agent = agent_create(
            workspace=workspace, name=APPROVAL_DEMO_AGENT_NAME,
            description='Offline; its calculator needs approval: send '
                        '/tool calculator {"expression": "6*7"}.',
            labels=["demo"],
        )
    if prompt is not None and not AgentVersion.objects.filter(agent=agent,
                                                              is_current=True).exists():
        agent_version_create(
            agent=agent,
            config={"type": "agent", "prompt_id": prompt.pk, "approval_timeout_seconds": 3600},
            set_current=True, message="demo", model_config={"model_id": "echo"},
            run_budget={"max_tool_calls": 5},
            tools=[{"mcp_tool_id": t.pk, "sort_order": i,
                    "requires_approval": t.name == "calculator"} for i, t in enumerate(tools)],
        )
    return agent
