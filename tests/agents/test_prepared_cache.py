"""Prepared agents are cached per process under the workspace's configuration revision,
which every change to what an agent runs with moves (services and admin saves alike)."""

from __future__ import annotations

import pytest
from pytest_django import DjangoAssertNumQueries

from agents.models import Agent, AgentVersion, LLMModel, McpTool, Prompt
from agents.preparation import PreparedAgent, config_revision, prepare_agent
from agents.services import (
    agent_update,
    agent_version_create,
    agent_version_promote,
    credential_create,
    credential_delete,
    credential_update,
    prompt_version_create,
    prompt_version_promote,
)
from promptrails.errors import DomainError
from promptrails.models import Workspace
from tests.helpers import Tenant


def _prepared(tenant: Tenant, agent: Agent) -> PreparedAgent:
    return prepare_agent(workspace=tenant.workspace, agent=agent)


def test_unchanged_configuration_is_served_from_the_cache(
    tenant: Tenant, agent: Agent, django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    first = _prepared(tenant, agent)
    with django_assert_num_queries(1):  # the revision only
        assert _prepared(tenant, agent) is first
    revision = config_revision(tenant.workspace)
    with django_assert_num_queries(0):  # a turn reads the revision with its session
        assert prepare_agent(workspace=tenant.workspace, agent=agent, revision=revision) is first


def test_a_change_elsewhere_does_not_touch_this_workspace(
    tenant: Tenant, other_tenant: Tenant, agent: Agent,
) -> None:
    before = config_revision(other_tenant.workspace)
    agent_update(agent=agent, changes={"name": "Renamed"})
    assert config_revision(other_tenant.workspace) == before
    assert config_revision(tenant.workspace) > 0


def _openai_agent(tenant: Tenant, agent: Agent, prompt: Prompt) -> None:
    agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                         set_current=True, model_config={"model_id": "gpt-4o-mini"})


@pytest.mark.parametrize("change", [
    "agent_renamed", "new_current_version", "older_version_promoted", "new_prompt_version",
    "prompt_version_promoted", "tool_deactivated", "credential_created",
    "credential_value_changed", "credential_deleted", "model_repriced", "version_edited_in_admin",
])
def test_every_configuration_change_is_seen_by_the_next_prepare(
    change: str, tenant: Tenant, agent: Agent, prompt: Prompt, tools: list[McpTool],
) -> None:
    if change.startswith(("credential", "model")):
        _openai_agent(tenant, agent, prompt)
    if change in ("credential_value_changed", "credential_deleted"):
        credential = credential_create(workspace=tenant.workspace, name="k", type="openai",
                                       value="sk-before-aaaaaaaaaa")
    before = _prepared(tenant, agent)
    assert _prepared(tenant, agent) is before  # cached

    def seen(after: PreparedAgent) -> object:
        return {
            "agent_renamed": lambda: after.agent_name == "Renamed",
            "new_current_version": lambda: after.temperature == 0.1,
            "older_version_promoted": lambda: after.temperature == 0.5,
            "new_prompt_version": lambda: after.system_template == "New system.",
            "prompt_version_promoted": lambda: after.system_template.startswith("You help"),
            "tool_deactivated": lambda: after.tools == (),
            "credential_created": lambda: after.model.api_key == "sk-new-bbbbbbbbbbbb",
            "credential_value_changed": lambda: after.model.api_key == "sk-after-cccccccccc",
            "credential_deleted": lambda: after.model.api_key is None,
            "model_repriced": lambda: after.model.input_price == 9.5,
            "version_edited_in_admin": lambda: after.max_tokens == 77,
        }[change]()

    if change == "agent_renamed":
        agent_update(agent=agent, changes={"name": "Renamed"})
    elif change == "new_current_version":
        agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                             set_current=True, model_config={"model_id": "echo",
                                                             "temperature": 0.1})
    elif change == "older_version_promoted":
        old = AgentVersion.objects.get(agent=agent, version="1.0.0")
        agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                             set_current=True, model_config={"model_id": "echo"})
        _prepared(tenant, agent)
        agent_version_promote(version=old)
    elif change == "new_prompt_version":
        prompt_version_create(prompt=prompt, system_prompt="New system.", set_current=True)
    elif change == "prompt_version_promoted":
        first = prompt.versions.get(version="1.0.0")
        prompt_version_create(prompt=prompt, system_prompt="Other.", set_current=True)
        _prepared(tenant, agent)
        prompt_version_promote(version=first)
    elif change == "tool_deactivated":
        tool = McpTool.objects.get(pk=tools[0].pk)
        tool.is_active = False
        tool.save()
    elif change == "credential_created":
        credential_create(workspace=tenant.workspace, name="n", type="openai",
                          value="sk-new-bbbbbbbbbbbb")
    elif change == "credential_value_changed":
        credential_update(credential=credential, changes={"value": "sk-after-cccccccccc"})
    elif change == "credential_deleted":
        credential_delete(credential=credential)
    elif change == "model_repriced":  # the shared registry: every workspace moves
        model = LLMModel.objects.get(model_id="gpt-4o-mini")
        model.input_price = 9.5
        model.save()
    elif change == "version_edited_in_admin":  # a ModelAdmin saves the row
        version = AgentVersion.objects.get(agent=agent, is_current=True)
        version.model_config = {**version.model_config, "max_tokens": 77}
        version.save()
    assert seen(_prepared(tenant, agent)), change


def test_a_deactivated_model_is_refused_at_once(tenant: Tenant, agent: Agent,
                                                prompt: Prompt) -> None:
    _openai_agent(tenant, agent, prompt)
    _prepared(tenant, agent)
    model = LLMModel.objects.get(model_id="gpt-4o-mini")
    model.is_active = False
    model.save()
    with pytest.raises(DomainError):
        _prepared(tenant, agent)


def test_the_revision_moves_in_the_transaction_of_the_change(tenant: Tenant,
                                                             agent: Agent) -> None:
    # a change that rolls back leaves the revision (and so the cache) as it was
    before = config_revision(tenant.workspace)
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        agent_update(agent=agent, changes={"name": "Never"})
        assert Workspace.objects.get(pk=tenant.workspace.pk).config_revision == before + 1
        raise RuntimeError
    assert config_revision(tenant.workspace) == before
