from __future__ import annotations

import re
from typing import Any

from django.urls import reverse

from agents.crypto import decrypt_value
from agents.models import Agent, AgentVersion, Credential, LLMModel, Prompt, PromptVersion
from executions import log
from executions.models import Execution
from promptrails.models import ApiKey, hash_api_key
from tests.admin.support import World

SECRET = "sk-live-abcdefghijklmnopqrstuvwxyz-1234"


def test_credential_value_write_only_and_encrypted(admin_client: Any, world: World) -> None:
    response = admin_client.post("/admin/agents/credential/add/", {
        "workspace": world.a.pk, "name": "OpenAI", "type": "openai", "category": "llm",
        "description": "", "value": SECRET})
    assert response.status_code == 302, response.content[:2000]
    cred = Credential.objects.get(name="OpenAI")
    assert cred.encrypted_value != SECRET and SECRET not in cred.encrypted_value
    assert decrypt_value(cred.encrypted_value) == SECRET
    assert cred.masked_content == "sk-l...1234"
    for url in ("/admin/agents/credential/",
                reverse("admin:agents_credential_change", args=[cred.pk])):
        html = admin_client.get(url).content.decode()
        assert SECRET not in html and cred.encrypted_value not in html
        assert "sk-l...1234" in html
    # Saving without a value keeps it; with one, replaces it.
    url = reverse("admin:agents_credential_change", args=[cred.pk])
    assert admin_client.post(url, {"name": "Renamed", "category": "llm", "description": "",
                                    "value": ""}).status_code == 302
    cred.refresh_from_db()
    assert cred.name == "Renamed" and decrypt_value(cred.encrypted_value) == SECRET
    admin_client.post(url, {"name": "Renamed", "category": "llm", "description": "",
                            "value": "sk-new-0000000000000000"})
    cred.refresh_from_db()
    assert decrypt_value(cred.encrypted_value) == "sk-new-0000000000000000"


def test_credential_requires_value_and_checks_shape(admin_client: Any, world: World) -> None:
    base = {"workspace": world.a.pk, "name": "x", "type": "openai", "category": "llm"}
    assert admin_client.post("/admin/agents/credential/add/", base).status_code == 200
    bad = admin_client.post("/admin/agents/credential/add/", {**base, "value": "{nope"})
    assert bad.status_code == 200 and not Credential.objects.filter(name="x").exists()


def test_api_key_plaintext_shown_once(admin_client: Any, world: World) -> None:
    response = admin_client.post("/admin/promptrails/apikey/add/",
                                 {"workspace": world.a.pk, "name": "ci"}, follow=True)
    html = response.content.decode()
    match = re.search(r"(pr_live_[A-Za-z0-9_\-]{20,})", html)
    assert match, html[:3000]
    raw = match.group(1)
    key = ApiKey.objects.get(name="ci")
    assert key.key_hash == hash_api_key(raw) and key.prefix == raw[:12]
    again = admin_client.get(reverse("admin:promptrails_apikey_change", args=[key.pk]))
    assert raw not in again.content.decode() and key.prefix in again.content.decode()
    assert raw not in admin_client.get("/admin/promptrails/apikey/").content.decode()
    admin_client.post("/admin/promptrails/apikey/", {"action": "revoke",
                                                     "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_execution_timeline_and_cancel(admin_client: Any, world: World) -> None:
    execution = Execution.objects.create(workspace=world.a, agent=world.agent_a,
                                         status="running", session_id=world.sessions["web"].pk)
    log.append(execution.id, [
        {"seq": 1, "type": "start", "model": "m1"},
        {"seq": 2, "type": "content", "content": "Hel"},
        {"seq": 3, "type": "content", "content": "lo <b>"},
        {"seq": 4, "type": "tool_call", "name": "calculator", "arguments": {"x": 1}},
    ])
    html = admin_client.get(
        reverse("admin:executions_execution_change", args=[execution.pk])).content.decode()
    assert "Hello &lt;b&gt;" in html and "2–3" in html and "tool_call" in html
    assert reverse("admin:chat_session_change", args=[world.sessions["web"].pk]) in html
    listing = admin_client.get("/admin/executions/execution/?status__exact=running")
    assert [e.pk for e in listing.context["cl"].result_list] == [execution.pk]
    response = admin_client.post("/admin/executions/execution/", {
        "action": "cancel_executions", "_selected_action": [execution.pk]})
    assert response.status_code == 302
    execution.refresh_from_db()
    assert execution.status == "cancel_requested"


def test_agents_prompts_models_tools_pages(admin_client: Any, world: World,
                                          settings: Any) -> None:
    settings.OUTBOUND_ALLOW = ["localhost"]  # the operator allows their Ollama
    AgentVersion.objects.create(agent=world.agent_a, version="1.0", is_current=True,
                                message="first version")
    prompt = Prompt.objects.create(workspace=world.a, name="Greeter")
    PromptVersion.objects.create(prompt=prompt, version="1", system_prompt="Be nice",
                                 is_current=True)
    html = admin_client.get(reverse("admin:agents_agent_change",
                                    args=[world.agent_a.pk])).content.decode()
    assert "first version" in html
    html = admin_client.get(
        reverse("admin:agents_prompt_change", args=[prompt.pk])).content.decode()
    assert "Be nice" in html
    response = admin_client.post("/admin/agents/llmmodel/add/", {
        "provider": "openai", "model_id": "llama3.2", "display_name": "Llama (Ollama)",
        "base_url": "http://localhost:11434/v1", "input_price": 0, "output_price": 0,
        "max_tokens": 8192, "max_output_tokens": 2048, "supports_tools": "on",
        "supports_streaming": "on", "is_active": "on"})
    assert response.status_code == 302, response.content[:2000]
    assert LLMModel.objects.get(model_id="llama3.2").base_url == "http://localhost:11434/v1"
    for url in ("/admin/agents/mcptool/", "/admin/promptrails/workspace/",
                "/admin/promptrails/membership/", "/admin/agents/agent/", "/admin/"):
        assert admin_client.get(url).status_code == 200, url
    assert Agent.objects.count() == 2
