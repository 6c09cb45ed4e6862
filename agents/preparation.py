"""The bridge the chat/executions runner calls: an agent version resolved into plain values.

Pure reads, synchronous, a handful of queries. Errors are 400 ``validation_error``s.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from agents.mcp.binding import server_tools
from agents.mcp.services import REMOTE_MCP, discovery_for_run, discovery_ttl, server_ref
from agents.models import Agent, AgentVersion, LLMModel, McpTool, PromptVersion
from agents.runtime.types import AgentRun, Message, ModelSpec, Resume, RunBudget
from agents.selectors import credential_for_provider, llm_model_resolve
from agents.services import credential_secret
from agents.templating import render_template
from promptrails.errors import DomainError, InvalidInput
from promptrails.models import Workspace
from promptrails.tenancy import scoped


@dataclass(frozen=True)
class PreparedAgent:
    agent_id: str
    agent_name: str
    version_id: str
    model: ModelSpec
    fallback: ModelSpec | None
    system_template: str
    user_template: str
    # the run's tool registry entries: built-in tool names attached (active ones), then the
    # tools of each attached MCP server (agents.mcp.binding.McpServerTool), names unique
    tools: tuple[Any, ...]
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    budget: RunBudget
    # time.time() after which an MCP server's discovery is stale: prepared again then
    refresh_at: float | None = None
    # names (as offered to the model) of the tools attached with requires_approval
    approval_required: frozenset[str] = frozenset()
    # how long a call waits for a person, and what then happens ("deny" or "approve")
    approval_timeout_seconds: float = 86400.0
    approval_on_timeout: str = "deny"
    # config.context: "window" (the newest messages that fit) or "summary" (a rolling
    # summary of the older ones, then the newest that fit), and the summarizer's model
    context_strategy: str = "window"
    summarizer: ModelSpec | None = None
    # config.memory: memories of the session's subject injected, remember/recall offered
    memory_enabled: bool = False
    memory_max_injected: int = 5

    def agent_run(self, *, system: str, user_message: str, history: tuple[Message, ...] = (),
                  tools: tuple[Any, ...] | None = None, resume: Resume | None = None) -> AgentRun:
        """The run of this agent with these prompts and history (``tools``: the prepared
        ones unless given, e.g. with the memory tools added; ``resume``: a parked run
        continued)."""
        return AgentRun(
            model=self.model, fallback=self.fallback, system=system, history=history,
            user_message=user_message, tools=self.tools if tools is None else tools,
            temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
            budget=self.budget, timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            approval_required=self.approval_required, resume=resume,
        )


CONTEXT_STRATEGIES = ("window", "summary")
DEFAULT_MAX_INJECTED = 5


def _context(workspace: Workspace, config: dict[str, Any]) -> tuple[str, ModelSpec | None]:
    raw = config.get("context")
    if not isinstance(raw, dict):
        return "window", None  # versions from before strategies: today's behaviour
    strategy = raw.get("strategy", "window")
    if strategy not in CONTEXT_STRATEGIES:
        raise _invalid("config.context.strategy",
                       f"Unknown context strategy {strategy!r} (window or summary).")
    ref = raw.get("summarizer_model_id")
    summarizer = (_model_spec(workspace=workspace,
                              model=_resolve(ref, "config.context.summarizer_model_id"))
                  if ref else None)
    return strategy, summarizer


def _memory(config: dict[str, Any]) -> tuple[bool, int]:
    raw = config.get("memory")
    if not isinstance(raw, dict) or raw.get("enabled") is not True:
        return False, DEFAULT_MAX_INJECTED
    limit = raw.get("max_injected", DEFAULT_MAX_INJECTED)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 50:
        limit = DEFAULT_MAX_INJECTED
    return True, limit


def _invalid(field: str, message: str) -> DomainError:
    return InvalidInput({field: [message]}, message=message)


def _version(agent: Agent, version_id: str | None) -> AgentVersion:
    qs = AgentVersion.objects.filter(agent=agent).prefetch_related(
        "tool_links__tool__credential")
    if version_id:
        version = qs.filter(pk=version_id).first()
        if version is None:
            raise _invalid("version_id", f"Agent {agent.name!r} has no version {version_id!r}.")
        return version
    version = qs.filter(is_current=True).first()
    if version is None:
        raise _invalid("agent_id", f"Agent {agent.name!r} has no current version.")
    return version


def _prompt_version(workspace: Workspace, version: AgentVersion) -> PromptVersion:
    config = version.config or {}
    if config.get("type", "agent") != "agent":
        raise _invalid("config.type", "Only agents of type 'agent' can run on this server.")
    prompt_id = config.get("prompt_id")
    prompt_version = (
        scoped(PromptVersion.objects.all(), workspace, "prompt__workspace")
        .filter(prompt_id=prompt_id, is_current=True)
        .first()
    )
    if prompt_version is None:
        raise _invalid("config.prompt_id",
                       f"The prompt {prompt_id!r} of this agent version is missing or has no "
                       "current version.")
    return prompt_version


# Sent as the key to a registry model's own server when no key of that server's is known:
# servers of their own (Ollama, vLLM, an Anthropic-compatible proxy) may take no key, and
# the SDK clients refuse to start without one.
NO_KEY = "not-needed"


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _model_spec(*, workspace: Workspace, model: LLMModel) -> ModelSpec:
    """The model with the key and URL it runs on. A key only ever goes to its own URL:

    - the workspace's credential for the provider: its key, to its own base_url if it has
      one, else to the environment's URL (``OPENAI_BASE_URL``…) or the provider's default;
    - no credential: the environment's key and URL (resolved by the provider client);
    - a registry model with its own base_url (e.g. an Ollama model): that URL, with the
      credential's key only when the credential names the same base_url, else with no key
      (``NO_KEY``) — never the environment's key nor another URL's. Such URLs, like a
      credential's, pass the outbound policy (promptrails.outbound) on every connection.
    """
    api_key: str | None = None
    base_url: str | None = None
    if model.provider != "local":
        credential = credential_for_provider(workspace=workspace, provider=model.provider)
        if credential is not None:
            key, cred_base_url = credential_secret(credential=credential)
            api_key = key or None
            base_url = cred_base_url
    if model.base_url and model.provider != "local":
        own = base_url is not None and _same_url(base_url, model.base_url)
        api_key = (api_key if own else None) or NO_KEY
        base_url = model.base_url
    return ModelSpec(
        provider=model.provider,
        model_id=model.model_id,
        api_key=api_key,
        base_url=base_url,
        input_price=model.input_price,
        output_price=model.output_price,
        cached_input_price=model.cached_input_price,
        context_window=model.max_tokens,
        max_output_tokens=model.max_output_tokens,
        supports_tools=model.supports_tools,
    )


def _resolve(ref: Any, field: str) -> LLMModel:
    if not isinstance(ref, str) or not ref:
        raise _invalid(field, "The agent version has no model (model_config.model_id).")
    model = llm_model_resolve(ref=ref)
    if model is None:
        raise _invalid(field, f"Unknown model {ref!r}.")
    if not model.is_active:
        raise _invalid(field, f"Model {model.model_id!r} is not active.")
    return model


def _budget(raw: dict[str, Any]) -> RunBudget:
    defaults = RunBudget()
    max_tool_calls = raw.get("max_tool_calls")
    return RunBudget(
        max_tool_calls=max_tool_calls if isinstance(max_tool_calls, int)
        else defaults.max_tool_calls,
        max_total_tokens=raw.get("max_total_tokens"),
        max_cost=raw.get("max_cost"),
    )


class _PreparedCache:
    """Prepared agents of this process, each valid for one `config_revision` of its workspace
    (moved in the transaction of every configuration change: agents.signals)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[str, str | None], tuple[int, PreparedAgent]] = (
            OrderedDict()
        )
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str | None], revision: int) -> PreparedAgent | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str | None], revision: int, prepared: PreparedAgent) -> None:
        with self.lock:
            self.entries[key] = (revision, prepared)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


prepared_cache = _PreparedCache(size=2048)


def config_revision(workspace: Workspace) -> int:
    """The workspace's configuration revision as committed now (one small query)."""
    revision = (Workspace.objects.filter(pk=workspace.pk)
                .values_list("config_revision", flat=True).first())
    return revision or 0


def prepare_agent(*, workspace: Workspace, agent: Agent, version_id: str | None = None,
                  revision: int | None = None) -> PreparedAgent:
    """Resolve the agent's current (or given) version into what the runner needs.

    Cached per process under the workspace's configuration revision; pass ``revision``
    when it was just read with something else (a turn reads it with the session),
    otherwise it is read here."""
    if agent.workspace_id != workspace.pk:
        raise _invalid("agent_id", "The agent is not in this workspace.")
    if revision is None:
        revision = config_revision(workspace)
    key = (agent.pk, version_id)
    prepared = prepared_cache.get(key, revision)
    if prepared is not None and prepared.refresh_at is not None \
            and time.time() >= prepared.refresh_at:
        prepared = None  # an MCP server's tool list is due for a refresh
    if prepared is None:
        prepared = _prepare(workspace, agent, version_id)
        prepared_cache.put(key, revision, prepared)
    return prepared


def _prepare(workspace: Workspace, agent: Agent, version_id: str | None) -> PreparedAgent:
    version = _version(agent, version_id)
    prompt_version = _prompt_version(workspace, version)
    model_config = version.model_config or {}
    model = _resolve(model_config.get("model_id"), "model_config.model_id")
    fallback_ref = model_config.get("fallback_model_id")
    fallback = (
        _model_spec(workspace=workspace,
                    model=_resolve(fallback_ref, "model_config.fallback_model_id"))
        if fallback_ref else None
    )
    tools, gated, refresh_at = _tool_set(version)
    config = version.config if isinstance(version.config, dict) else {}
    timeout, on_timeout = _approval_config(config)
    strategy, summarizer = _context(workspace, config)
    memory_enabled, memory_max_injected = _memory(config)
    return PreparedAgent(
        context_strategy=strategy, summarizer=summarizer, memory_enabled=memory_enabled,
        memory_max_injected=memory_max_injected,
        agent_id=agent.pk,
        agent_name=agent.name,
        version_id=version.pk,
        model=_model_spec(workspace=workspace, model=model),
        fallback=fallback,
        system_template=prompt_version.system_prompt,
        user_template=prompt_version.user_prompt,
        tools=tools,
        refresh_at=refresh_at,
        temperature=model_config.get("temperature"),
        top_p=model_config.get("top_p"),
        max_tokens=model_config.get("max_tokens"),
        budget=_budget(version.run_budget or {}),
        approval_required=gated,
        approval_timeout_seconds=timeout,
        approval_on_timeout=on_timeout,
    )


def _tool_set(version: AgentVersion) -> tuple[tuple[Any, ...], frozenset[str], float | None]:
    """The version's tools (active built-ins by name, then each attached MCP server's), the
    names needing approval, and when the earliest MCP discovery goes stale."""
    links = sorted(version.tool_links.all(), key=lambda x: (x.sort_order, x.pk))
    builtins = [link.tool.name for link in links
                if link.tool.is_active and link.tool.type == "builtin"]
    gated = {link.tool.name for link in links if link.requires_approval
             and link.tool.is_active and link.tool.type == "builtin"}
    tools: list[Any] = []
    refresh_at: float | None = None
    taken = set(builtins)
    for link in links:
        if not (link.tool.is_active and link.tool.type == REMOTE_MCP):
            continue
        server_list, server_refresh = _mcp_tools([link.tool], taken=taken)
        tools += server_list
        if link.requires_approval:
            gated.update(tool.name for tool in server_list)
        if server_refresh is not None:
            refresh_at = server_refresh if refresh_at is None else min(refresh_at, server_refresh)
    return (*builtins, *tools), frozenset(gated), refresh_at


def _approval_config(config: dict[str, Any]) -> tuple[float, str]:
    """How long a call needing approval waits (default 24 h), and what then happens."""
    timeout = config.get("approval_timeout_seconds")
    on_timeout = config.get("approval_on_timeout")
    return (float(timeout) if isinstance(timeout, int | float)
            and not isinstance(timeout, bool) and timeout > 0 else 86400.0,
            on_timeout if on_timeout in ("deny", "approve") else "deny")


MIN_REFRESH_DELAY = 60.0


def _mcp_tools(servers: list[McpTool], *, taken: set[str]) -> tuple[list[Any], float | None]:
    """Every attached MCP server's tools as registry entries (from its stored discovery,
    refreshed first when missing or stale), and when the earliest discovery goes stale."""
    tools: list[Any] = []
    refresh_at: float | None = None
    for server in servers:
        discovered = discovery_for_run(server)
        timeout = server.config.get("timeout_seconds")
        tools += server_tools(server=server_ref(server), discovered=discovered,
                              allowed=server.config.get("allowed_tools"), taken=taken,
                              timeout=float(timeout) if isinstance(timeout, int | float)
                              else None)
        stale_at = (server.discovered_at.timestamp() + discovery_ttl()
                    if server.discovered_at is not None else 0.0)
        stale_at = max(stale_at, time.time() + MIN_REFRESH_DELAY)
        refresh_at = stale_at if refresh_at is None else min(refresh_at, stale_at)
    return tools, refresh_at


def _render(system_template: str, user_template: str,
            variables: dict[str, Any]) -> tuple[str, str]:
    system = render_template(system_template, variables, field="system_prompt")
    if user_template.strip():
        user = render_template(user_template, variables, field="user_prompt")
    else:
        message = variables.get("message", "")
        user = message if isinstance(message, str) else str(message)
    return system, user


def render_prompts(prepared: PreparedAgent, *, variables: dict[str, Any]) -> tuple[str, str]:
    """(system, user) rendered in the sandbox; an empty user template means the message."""
    return _render(prepared.system_template, prepared.user_template, variables)


def preview_prompts(*, workspace: Workspace, agent: Agent, variables: dict[str, Any],
                    version_id: str | None = None) -> dict[str, Any]:
    """The rendered prompts of the agent's current (or given) version; no model call."""
    version = _version(agent, version_id)
    prompt_version = _prompt_version(workspace, version)
    system, user = _render(prompt_version.system_prompt, prompt_version.user_prompt, variables)
    return {
        "agent_id": agent.pk,
        "version_id": version.pk,
        "prompt_id": prompt_version.prompt_id,
        "prompt_version_id": prompt_version.pk,
        "model_id": (version.model_config or {}).get("model_id"),
        "system_prompt": system,
        "user_prompt": user,
        "input": variables,
    }
