from __future__ import annotations

import pytest

from agents.models import Agent, McpTool, Prompt
from agents.services import (
    agent_create,
    agent_version_create,
    builtin_tools_ensure,
    prompt_create,
)
from tests.helpers import Tenant


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tools(tenant: Tenant) -> list[McpTool]:
    return builtin_tools_ensure(workspace=tenant.workspace)


@pytest.fixture
def prompt(tenant: Tenant) -> Prompt:
    return prompt_create(
        workspace=tenant.workspace, name="Support",
        initial_version={"system_prompt": "You help {{ company | default('ACME') }}.",
                         "user_prompt": "", "version": "1.0.0"},
    )


@pytest.fixture
def agent(tenant: Tenant, prompt: Prompt, tools: list[McpTool]) -> Agent:
    agent = agent_create(workspace=tenant.workspace, name="Support bot")
    agent_version_create(
        agent=agent, config={"type": "agent", "prompt_id": prompt.pk}, version="1.0.0",
        set_current=True, model_config={"model_id": "echo", "temperature": 0.5},
        tools=[{"mcp_tool_id": tools[0].pk}],
    )
    return agent
