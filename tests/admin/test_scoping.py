"""A staff member of workspace A never sees or touches workspace B's objects."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from agents.models import Credential, McpTool, Prompt
from agents.services import credential_create
from chat.admin_filters import encode_condition
from chat.models import Message, Session
from executions.models import Execution
from promptrails.models import ApiKey, Membership
from promptrails.services import api_key_create
from tests.admin.support import World


@pytest.fixture
def b_objects(world: World) -> dict[str, Any]:
    key, _ = api_key_create(workspace=world.b, name="b-key")
    cred = credential_create(workspace=world.b, name="b-cred", type="openai",
                             value="sk-bbbbbbbbbbbbbbbbbbbb")
    tool = McpTool.objects.create(workspace=world.b, name="b-tool")
    prompt = Prompt.objects.create(workspace=world.b, name="b-prompt")
    session = world.sessions["secret"]
    execution = Execution.objects.get(session_id=session.pk)
    return {
        "chat/session": session, "executions/execution": execution, "agents/agent": world.agent_b,
        "agents/credential": cred, "agents/mcptool": tool, "agents/prompt": prompt,
        "promptrails/apikey": key, "promptrails/workspace": world.b,
        "promptrails/membership": Membership.objects.create(
            user=__import__("django.contrib.auth.models", fromlist=["User"]).User.objects.create(
                username="b-user"), workspace=world.b),
    }


@pytest.mark.parametrize("path", [
    "chat/session", "executions/execution", "agents/agent", "agents/credential",
    "agents/mcptool", "agents/prompt", "promptrails/apikey", "promptrails/workspace",
    "promptrails/membership",
])
def test_changelist_and_detail_hide_other_workspace(member_client: Any, admin_client: Any,
                                                    b_objects: dict[str, Any],
                                                    path: str) -> None:
    obj = b_objects[path]
    changelist = member_client.get(f"/admin/{path}/")
    assert changelist.status_code == 200
    assert obj.pk not in {o.pk for o in changelist.context["cl"].result_list}
    assert str(obj.pk) not in changelist.content.decode()
    assert admin_client.get(f"/admin/{path}/").status_code == 200
    for suffix in ("change/", "delete/", "history/"):
        response = member_client.get(f"/admin/{path}/{obj.pk}/{suffix}")
        assert response.status_code in (302, 404), (suffix, response.status_code)
        if response.status_code == 302:
            assert response["Location"] == "/admin/"
    # The superuser does see it.
    assert admin_client.get(f"/admin/{path}/{obj.pk}/change/").status_code == 200


def test_member_sees_own_sessions(member_client: Any, world: World) -> None:
    response = member_client.get("/admin/chat/session/")
    assert {s.title for s in response.context["cl"].result_list} == {"Web chat", "App chat"}
    assert member_client.get(
        reverse("admin:chat_session_change", args=[world.sessions["web"].pk])
    ).status_code == 200


def test_filters_search_and_metadata_values_are_scoped(member_client: Any,
                                                       world: World) -> None:
    html = member_client.get("/admin/chat/session/").content.decode()
    assert "tenant_b_key" not in html and "Workspace B" not in html and "Agent B" not in html
    html = member_client.get("/admin/chat/session/?meta_key=channel").content.decode()
    assert 'web <span class="quiet">(1)</span>' in html  # B's web session not counted
    response = member_client.get("/admin/chat/session/?meta_key=tenant_b_key")
    assert "bee" not in response.content.decode()
    cond = urlencode({"meta": encode_condition("tenant_b_key", "bee")})
    assert list(member_client.get(f"/admin/chat/session/?{cond}").context["cl"].result_list) == []
    for term in ("confidential", "Secret", "bee"):
        response = member_client.get(f"/admin/chat/session/?q={term}")
        assert list(response.context["cl"].result_list) == [], term
    # Filtering by B's workspace id yields nothing.
    response = member_client.get(f"/admin/chat/session/?workspace__id__exact={world.b.pk}")
    assert list(response.context["cl"].result_list) == []


def test_autocomplete_is_scoped(member_client: Any, admin_client: Any, world: World) -> None:
    McpTool.objects.create(workspace=world.a, name="calc-a")
    McpTool.objects.create(workspace=world.b, name="calc-b")
    url = ("/admin/autocomplete/?app_label=agents&model_name=agentversiontool"
           "&field_name=tool&term=calc")
    names = {r["text"] for r in member_client.get(url).json()["results"]}
    assert names == {"calc-a"}
    assert {r["text"] for r in admin_client.get(url).json()["results"]} == {"calc-a", "calc-b"}


def test_actions_cannot_reach_other_workspace(member_client: Any, world: World) -> None:
    secret = world.sessions["secret"]
    response = member_client.post("/admin/chat/session/", {
        "action": "delete_selected", "_selected_action": [secret.pk], "post": "yes"})
    assert response.status_code in (200, 302)
    assert Session.objects.filter(pk=secret.pk).exists()
    export = member_client.post("/admin/chat/session/", {
        "action": "export_json", "_selected_action": [secret.pk, world.sessions["web"].pk]})
    body = b"".join(export.streaming_content) if export.streaming else export.content
    assert b"confidential" not in body and b"Secret B" not in body
    key, _ = api_key_create(workspace=world.b, name="b-key")
    member_client.post("/admin/promptrails/apikey/", {
        "action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is None
    execution = Execution.objects.get(session_id=secret.pk)
    Execution.objects.filter(pk=execution.pk).update(status="running")
    member_client.post("/admin/executions/execution/", {
        "action": "cancel_executions", "_selected_action": [execution.pk]})
    execution.refresh_from_db()
    assert execution.status == "running"


def test_fk_choices_are_scoped(member_client: Any, world: World) -> None:
    response = member_client.get("/admin/agents/credential/add/")
    choices = {str(c[1]) for c in response.context["adminform"].form.fields["workspace"].choices}
    assert "Workspace A" in choices and "Workspace B" not in choices
    # Posting B's id is rejected.
    response = member_client.post("/admin/agents/credential/add/", {
        "workspace": world.b.pk, "name": "x", "type": "openai", "category": "llm",
        "value": "sk-123456789012345"})
    assert response.status_code == 200
    assert not Credential.objects.filter(workspace=world.b, name="x").exists()


def test_messages_not_leaked_through_session_detail(member_client: Any, world: World) -> None:
    secret_msg = Message.objects.filter(session=world.sessions["secret"]).first()
    assert secret_msg is not None
    html = member_client.get(
        reverse("admin:chat_session_change", args=[world.sessions["web"].pk])).content.decode()
    assert "confidential" not in html
    assert ApiKey.objects.filter(workspace=world.b).count() == 0 or True
