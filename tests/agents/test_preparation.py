from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from agents.models import Agent, AgentVersion, LLMModel, McpTool, Prompt
from agents.preparation import NO_KEY, PreparedAgent, prepare_agent, render_prompts
from agents.runtime.providers import get_provider
from agents.runtime.types import Message, ModelRequest, ModelSpec, ProviderError, RunBudget
from agents.services import (
    agent_create,
    agent_version_create,
    credential_create,
    credential_set_default,
)
from promptrails.errors import DomainError
from tests.helpers import Tenant


def _version(agent: Agent, prompt: Prompt, **model_config: object) -> AgentVersion:
    return agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                                set_current=True, model_config=dict(model_config),
                                run_budget={"max_tool_calls": 3, "max_cost": 0.5})


def test_prepare_local_agent(tenant: Tenant, agent: Agent, tools: list[McpTool]) -> None:
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert isinstance(prepared, PreparedAgent)
    assert prepared.agent_id == agent.pk and prepared.agent_name == "Support bot"
    assert prepared.model == ModelSpec(provider="local", model_id="echo", api_key=None,
                                       base_url=None, input_price=0.0, output_price=0.0,
                                       cached_input_price=None, context_window=32768,
                                       max_output_tokens=4096, supports_tools=True)
    assert prepared.fallback is None
    assert prepared.tools == ("calculator",)
    assert prepared.temperature == 0.5 and prepared.top_p is None
    assert prepared.budget == RunBudget()
    assert render_prompts(prepared, variables={"message": "hi"}) == ("You help ACME.", "hi")


def test_prepare_picks_default_credential_and_prices(tenant: Tenant, agent: Agent,
                                                     prompt: Prompt, settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["proxy.local"]
    credential_create(workspace=tenant.workspace, name="a", type="openai",
                      value="sk-first-aaaaaaaa")
    second = credential_create(workspace=tenant.workspace, name="b", type="openai",
                               value=json.dumps({"api_key": "sk-second-bbbbbbb",
                                                 "base_url": "http://proxy.local/v1"}))
    credential_create(workspace=tenant.workspace, name="c", type="anthropic",
                      value="sk-ant-cccccccccccc")
    version = _version(agent, prompt, model_id="gpt-4o-mini",
                       fallback_model_id="claude-3-5-haiku-20241022", top_p=0.9, max_tokens=256)
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert prepared.version_id == version.pk
    assert prepared.model.api_key == "sk-first-aaaaaaaa" and prepared.model.base_url is None
    assert prepared.model.input_price == 0.15 and prepared.model.cached_input_price == 0.075
    assert prepared.model.context_window == 128_000
    assert prepared.fallback is not None and prepared.fallback.provider == "anthropic"
    assert prepared.fallback.api_key == "sk-ant-cccccccccccc"
    assert prepared.top_p == 0.9 and prepared.max_tokens == 256
    assert prepared.budget == RunBudget(max_tool_calls=3, max_total_tokens=None, max_cost=0.5)
    assert prepared.tools == ()

    credential_set_default(credential=second)
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert prepared.model.api_key == "sk-second-bbbbbbb"
    assert prepared.model.base_url == "http://proxy.local/v1"


def test_prepare_without_credential_leaves_key_to_env(tenant: Tenant, other_tenant: Tenant,
                                                      agent: Agent, prompt: Prompt) -> None:
    credential_create(workspace=other_tenant.workspace, name="x", type="openai",
                      value="sk-other-workspace-key")
    _version(agent, prompt, model_id="gpt-4o")
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert prepared.model.api_key is None and prepared.model.base_url is None


def test_model_base_url_wins_without_any_key(tenant: Tenant, agent: Agent, prompt: Prompt,
                                             settings: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A registry model's own URL gets neither the workspace credential's key (it belongs to
    # another URL) nor the environment's.
    settings.OUTBOUND_ALLOW = ["cred"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-key-0123456789")
    credential_create(workspace=tenant.workspace, name="a", type="openai",
                      value=json.dumps({"api_key": "k" * 20, "base_url": "http://cred/v1"}))
    model = LLMModel.objects.create(provider="openai", model_id="llama3", display_name="Llama",
                                    base_url="http://ollama:11434/v1", max_tokens=8192)
    _version(agent, prompt, model_id=model.pk)
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert prepared.model.base_url == "http://ollama:11434/v1"
    assert prepared.model.api_key == NO_KEY
    assert prepared.model.model_id == "llama3" and prepared.model.context_window == 8192


def test_model_base_url_gets_the_key_of_a_credential_naming_it(
        tenant: Tenant, agent: Agent, prompt: Prompt, settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["vllm.internal"]
    credential_create(workspace=tenant.workspace, name="a", type="openai",
                      value=json.dumps({"api_key": "sk-vllm-key-1234567",
                                        "base_url": "http://vllm.internal:8000/v1/"}))
    model = LLMModel.objects.create(provider="openai", model_id="qwen", display_name="Qwen",
                                    base_url="http://vllm.internal:8000/v1")
    _version(agent, prompt, model_id=model.pk)
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert prepared.model.api_key == "sk-vllm-key-1234567"
    assert prepared.model.base_url == "http://vllm.internal:8000/v1"


def test_plain_credential_key_never_reaches_a_model_url(tenant: Tenant, agent: Agent,
                                                        prompt: Prompt, fake_openai: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The model registry's URL (a staff member may have set it) receives no key at all:
    # not the workspace's credential's, not the server's.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-key-0123456789")
    credential_create(workspace=tenant.workspace, name="a", type="openai",
                      value="sk-workspace-key-0123456789")
    model = LLMModel.objects.create(provider="openai", model_id="fake-gpt", display_name="F",
                                    base_url=fake_openai.base_url)
    _version(agent, prompt, model_id=model.pk)
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    request = ModelRequest(model=prepared.model, system="", messages=(Message("user", "hi"),))

    async def run() -> None:
        async for _ in get_provider("openai").stream(request):
            pass

    async_to_sync(run)()
    assert [r.headers.get("authorization") for r in fake_openai.requests] == [
        f"Bearer {NO_KEY}"]


def test_a_model_url_is_subject_to_the_outbound_policy(tenant: Tenant, agent: Agent,
                                                       prompt: Prompt, fake_openai: Any,
                                                       settings: Any) -> None:
    settings.OUTBOUND_ALLOW = []
    model = LLMModel.objects.create(provider="openai", model_id="fake-gpt", display_name="F",
                                    base_url=fake_openai.base_url)
    _version(agent, prompt, model_id=model.pk)
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    request = ModelRequest(model=prepared.model, system="", messages=(Message("user", "hi"),))

    async def run() -> None:
        async for _ in get_provider("openai").stream(request):
            pass

    with pytest.raises(ProviderError, match="refused"):
        async_to_sync(run)()
    assert fake_openai.requests == []


def test_prepare_given_version(tenant: Tenant, agent: Agent, prompt: Prompt) -> None:
    old = AgentVersion.objects.get(agent=agent)
    _version(agent, prompt, model_id="gpt-4o")
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent, version_id=old.pk)
    assert prepared.version_id == old.pk and prepared.model.provider == "local"


def test_prepare_errors_are_400(tenant: Tenant, other_tenant: Tenant, prompt: Prompt) -> None:
    agent = agent_create(workspace=tenant.workspace, name="empty")
    with pytest.raises(DomainError) as info:
        prepare_agent(workspace=tenant.workspace, agent=agent)
    assert info.value.status == 400 and info.value.code == "validation_error"
    assert "no current version" in info.value.message

    _version(agent, prompt)  # no model
    with pytest.raises(DomainError, match="no model"):
        prepare_agent(workspace=tenant.workspace, agent=agent)
    with pytest.raises(DomainError):
        prepare_agent(workspace=tenant.workspace, agent=agent, version_id="nope")
    with pytest.raises(DomainError):
        prepare_agent(workspace=other_tenant.workspace, agent=agent)
    _version(agent, prompt, model_id="echo")
    LLMModel.objects.filter(model_id="echo").update(is_active=False)
    with pytest.raises(DomainError, match="not active"):
        prepare_agent(workspace=tenant.workspace, agent=agent)


def test_prepare_uses_current_prompt_version(tenant: Tenant, agent: Agent,
                                             prompt: Prompt) -> None:
    from agents.services import prompt_version_create

    prompt_version_create(prompt=prompt, system_prompt="v2 {{ message }}", set_current=True)
    prepared = prepare_agent(workspace=tenant.workspace, agent=agent)
    assert prepared.system_template == "v2 {{ message }}"
    assert render_prompts(prepared, variables={"message": "m"}) == ("v2 m", "m")


def test_query_count_is_small(tenant: Tenant, agent: Agent, django_assert_max_num_queries: object
                              ) -> None:
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        prepare_agent(workspace=tenant.workspace, agent=agent)


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}",
    "{% include '/etc/passwd' %}", "{{ unknown_var }}", "{% if %}",
])
def test_render_refusals(template: str) -> None:
    prepared = PreparedAgent(
        agent_id="a", agent_name="a", version_id="v", model=ModelSpec("local", "echo"),
        fallback=None, system_template=template, user_template="", tools=(),
        temperature=None, top_p=None, max_tokens=None, budget=RunBudget())
    with pytest.raises(DomainError) as info:
        render_prompts(prepared, variables={"message": "x"})
    assert info.value.status == 400 and info.value.details
