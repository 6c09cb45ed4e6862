"""The model registry is shared by every workspace: superusers edit it, staff only view it;
a model's base_url passes the outbound policy when it is saved (issue #15: 6)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from agents.models import LLMModel
from tests.admin.support import World

MODEL_FORM = {
    "provider": "openai", "model_id": "llama3.2", "display_name": "Llama (Ollama)",
    "base_url": "", "input_price": 0, "output_price": 0, "max_tokens": 8192,
    "max_output_tokens": 2048, "supports_tools": "on", "supports_streaming": "on",
    "is_active": "on",
}


def test_staff_may_view_but_not_change_add_or_delete_models(member_client: Client,
                                                            world: World) -> None:
    model = LLMModel.objects.create(provider="openai", model_id="gpt-x", display_name="GPT X")
    change_url = reverse("admin:agents_llmmodel_change", args=[model.pk])
    assert member_client.get("/admin/agents/llmmodel/").status_code == 200
    page = member_client.get(change_url)
    assert page.status_code == 200 and b'name="_save"' not in page.content  # read-only
    posted = member_client.post(change_url, {**MODEL_FORM, "model_id": "gpt-x",
                                             "base_url": "https://attacker.example/v1"})
    assert posted.status_code == 403
    assert member_client.get("/admin/agents/llmmodel/add/").status_code == 403
    assert member_client.post("/admin/agents/llmmodel/add/", MODEL_FORM).status_code == 403
    delete_url = reverse("admin:agents_llmmodel_delete", args=[model.pk])
    assert member_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert member_client.post("/admin/agents/llmmodel/", {
        "action": "delete_selected", "_selected_action": [model.pk], "post": "yes"},
    ).status_code in (200, 302, 403)
    model.refresh_from_db()
    assert model.base_url == "" and LLMModel.objects.filter(pk=model.pk).exists()
    assert not LLMModel.objects.filter(model_id="llama3.2").exists()


def test_a_superuser_cannot_aim_a_model_at_a_refused_address(admin_client: Any, world: World,
                                                            settings: Any) -> None:
    settings.OUTBOUND_ALLOW = []
    for url in ("http://127.0.0.1:11434/v1", "http://169.254.169.254/latest",
                "http://localhost:11434/v1", "https://h.example/v1?key=x"):
        response = admin_client.post("/admin/agents/llmmodel/add/",
                                     {**MODEL_FORM, "base_url": url})
        assert response.status_code == 200, url  # the form again, with the error
        assert response.context["adminform"].form.errors.get("base_url"), url
    assert not LLMModel.objects.filter(model_id="llama3.2").exists()
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    response = admin_client.post("/admin/agents/llmmodel/add/",
                                 {**MODEL_FORM, "base_url": "http://127.0.0.1:11434/v1"})
    assert response.status_code == 302, response.content[:2000]
