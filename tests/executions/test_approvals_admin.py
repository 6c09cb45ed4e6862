"""The approvals inbox in the admin: staff of the workspace see and decide its approvals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from agents.services import demo_agent_ensure
from executions import approvals
from executions.models import Approval, Execution, ExecutionStatus
from promptrails.models import Membership, Workspace
from tests.helpers import make_tenant
from tests.support.live import ensure_local_model

URL = "/admin/executions/approval/"


def _parked(workspace: Workspace) -> Approval:
    """A parked execution of the demo agent, as the runner stores one."""
    agent = demo_agent_ensure(workspace=workspace)
    version = agent.versions.get(is_current=True)
    execution = Execution.objects.create(
        workspace=workspace, agent=agent, agent_name=agent.name, agent_version=version,
        status=ExecutionStatus.WAITING_APPROVAL, trace_id="0" * 32)
    call = {"id": "call_1", "name": "calculator", "arguments": {"expression": "6*7"}}
    state = {"system": "", "tool_calls_used": 1, "content": "", "cost": 0.0,
             "model_id": "echo", "tool_calls": [call], "tool_runs": [], "llm_calls": [],
             "usage": {"prompt_tokens": 1, "completion_tokens": 1},
             "messages": [{"role": "user", "content": "6*7"},
                          {"role": "assistant", "content": "", "tool_calls": [call]}],
             "pending": [call]}
    return Approval.objects.create(
        workspace=workspace, execution=execution, agent_id=agent.id, tool_call_id="call_1",
        tool_name="calculator", arguments=call["arguments"], state=state,
        expires_at=timezone.now() + timedelta(hours=1))


def _staff(username: str, workspace: Workspace, *, decide: bool) -> Client:
    user = User.objects.create_user(username, password="pw-123456", is_staff=True)
    codenames = ["view_approval", "view_execution"] + (["change_approval"] if decide else [])
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="executions",
                                                        codename__in=codenames))
    Membership.objects.create(user=user, workspace=workspace)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The resumed runs the admin would start (the runner itself is tested live)."""
    specs: list[Any] = []
    monkeypatch.setattr(approvals, "start_resumed", specs.append)
    return specs


def test_staff_see_and_decide_only_their_workspace(db: None, started: list[Any]) -> None:
    ensure_local_model()
    a, b = make_tenant("Inbox A").workspace, make_tenant("Inbox B").workspace
    mine, theirs = _parked(a), _parked(b)
    staff = _staff("staff-a", a, decide=True)
    page = staff.get(URL)
    assert page.status_code == 200
    assert mine.id in page.content.decode() and theirs.id not in page.content.decode()
    assert staff.get(f"{URL}{theirs.id}/change/").status_code in (302, 404)

    response = staff.post(URL, {"action": "deny_selected",
                                "_selected_action": [mine.id, theirs.id]})
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == "rejected" and mine.decided_by == "user:staff-a"
    assert theirs.status == "pending"
    assert [s.execution_id for s in started] == [mine.execution_id]
    assert started[0].run.resume.approved is False
    assert Execution.objects.get(pk=mine.execution_id).status == "running"

    # deciding again does nothing
    staff.post(URL, {"action": "approve_selected", "_selected_action": [mine.id]})
    assert len(started) == 1


def test_view_only_staff_cannot_decide(db: None, started: list[Any]) -> None:
    ensure_local_model()
    a = make_tenant("Inbox C").workspace
    approval = _parked(a)
    viewer = _staff("viewer-a", a, decide=False)
    assert viewer.get(URL).status_code == 200
    viewer.post(URL, {"action": "approve_selected", "_selected_action": [approval.id]})
    approval.refresh_from_db()
    assert approval.status == "pending" and started == []
