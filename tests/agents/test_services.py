from __future__ import annotations

from agents.models import Agent, AgentVersion, AgentVersionTool, McpTool, Prompt
from agents.preparation import prepare_agent, render_prompts
from agents.runtime.tools import BUILTIN_TOOLS
from agents.services import builtin_tools_ensure, demo_agent_ensure
from tests.helpers import Tenant


def test_builtin_tools_ensure_is_idempotent(tenant: Tenant, other_tenant: Tenant) -> None:
    first = builtin_tools_ensure(workspace=tenant.workspace)
    second = builtin_tools_ensure(workspace=tenant.workspace)
    assert [t.pk for t in first] == [t.pk for t in second]
    assert {t.name for t in first} == set(BUILTIN_TOOLS)
    assert all(t.type == "builtin" and t.schema and t.description for t in first)
    builtin_tools_ensure(workspace=other_tenant.workspace)
    assert McpTool.objects.filter(workspace=tenant.workspace).count() == len(BUILTIN_TOOLS)
    assert McpTool.objects.count() == 2 * len(BUILTIN_TOOLS)


def test_demo_agent_ensure_is_idempotent_and_runnable(tenant: Tenant) -> None:
    agent = demo_agent_ensure(workspace=tenant.workspace)
    again = demo_agent_ensure(workspace=tenant.workspace)
    assert agent.pk == again.pk and agent.name == "Demo agent"
    assert Agent.objects.count() == 1 and Prompt.objects.count() == 1
    assert AgentVersion.objects.filter(agent=agent).count() == 1
    assert AgentVersionTool.objects.filter(version__agent=agent).count() == len(BUILTIN_TOOLS)
    prompt = Prompt.objects.get()
    assert prompt.name == "Demo assistant"
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert (prepared.model.provider, prepared.model.model_id) == ("local", "echo")
    assert set(prepared.tools) == set(BUILTIN_TOOLS)
    system, user = render_prompts(prepared, variables={"message": "hello"})
    assert "friendly" in system and user == "hello"
