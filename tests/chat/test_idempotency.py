"""Idempotency-Key on sends: a retry returns the same turn and never starts a second one."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from agents.services import demo_agent_ensure
from chat.models import IdempotencyKey, Message, Session
from executions.models import Execution
from tests.helpers import Tenant, assert_error
from tests.support.live import LiveTenant, ensure_local_model
from tests.support.wait import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def session_for(tenant: Tenant) -> str:
    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    response = tenant.client.post("/api/v1/chat/sessions", {"agent_id": agent.id}, format="json")
    return str(response.json()["data"]["id"])


def send(tenant: Tenant, session_id: str, content: str, key: str | None) -> Any:
    headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return tenant.client.post(f"/api/v1/chat/sessions/{session_id}/messages",
                              {"content": content}, format="json", **headers)


def test_retry_returns_the_same_turn(tenant: Tenant) -> None:
    session_id = session_for(tenant)
    first = send(tenant, session_id, "hello", "key-1")
    second = send(tenant, session_id, "hello", "key-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Message.objects.filter(session_id=session_id).count() == 2
    assert Execution.objects.filter(session_id=session_id).count() == 1
    third = send(tenant, session_id, "hello", "key-2")
    assert third.json()["data"]["execution_id"] != first.json()["data"]["execution_id"]


def test_same_key_other_body_is_conflict(tenant: Tenant) -> None:
    session_id = session_for(tenant)
    send(tenant, session_id, "hello", "key-1")
    assert_error(send(tenant, session_id, "something else", "key-1"), 409,
                 "idempotency_conflict")
    other_session = session_for(tenant)
    assert_error(send(tenant, other_session, "hello", "key-1"), 409, "idempotency_conflict")
    assert Execution.objects.count() == 1


def test_keys_are_scoped_to_the_workspace(tenant: Tenant, other_tenant: Tenant) -> None:
    mine, theirs = session_for(tenant), session_for(other_tenant)
    a = send(tenant, mine, "hello", "shared-key")
    b = send(other_tenant, theirs, "hello", "shared-key")
    assert a.status_code == b.status_code == 201
    assert a.json()["data"]["execution_id"] != b.json()["data"]["execution_id"]


def test_key_expires_after_24_hours(tenant: Tenant) -> None:
    session_id = session_for(tenant)
    first = send(tenant, session_id, "hello", "old-key")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = send(tenant, session_id, "hello", "old-key")
    assert again.json()["data"]["execution_id"] != first.json()["data"]["execution_id"]
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.parametrize("key", ["x" * 256, "bad\nkey"])
def test_bad_key_is_400(tenant: Tenant, key: str) -> None:
    session_id = session_for(tenant)
    response = tenant.client.post(f"/api/v1/chat/sessions/{session_id}/messages",
                                  {"content": "hi"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert_error(response, 400, "validation_error")
    assert not Message.objects.exists()


def _sse_events(url: str, key: str, content: str, headers: dict[str, str]) -> list[dict]:
    events = []
    with httpx.stream("POST", url, json={"content": content}, timeout=30,
                      headers={**headers, "Idempotency-Key": key}) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    return events


def test_retry_while_running_attaches_to_the_turn(slow_tenant: LiveTenant) -> None:
    live = slow_tenant
    session = live.sdk.chat.create_session(agent_id=live.agent_id)
    url = f"{live.server.url}/api/v1/chat/sessions/{session.id}/messages/stream"
    headers = {"X-API-Key": live.tenant.raw_key}
    content = " ".join(f"w{i}" for i in range(40))
    results: dict[str, list[dict]] = {}
    first = threading.Thread(target=lambda: results.update(
        first=_sse_events(url, "run-1", content, headers)))
    first.start()
    wait_for(Execution.objects.filter(session_id=session.id, status="running").exists, 10,
             interval=0.001, what="the first send's turn to run")
    results["second"] = _sse_events(url, "run-1", content, headers)  # SSE retry: attaches
    rest = httpx.post(f"{live.server.url}/api/v1/chat/sessions/{session.id}/messages",
                      json={"content": content}, headers={**headers, "Idempotency-Key": "run-1"},
                      timeout=30)  # REST retry: waits for the same turn
    first.join(30)
    assert results["first"] == results["second"]
    assert results["first"][-1]["type"] == "done"
    assert rest.status_code == 201
    assert rest.json()["data"]["content"] == results["first"][-1]["output"]["content"]
    assert Execution.objects.filter(session_id=session.id).count() == 1
    assert Message.objects.filter(session_id=session.id).count() == 2
    assert not Session.objects.get(pk=session.id).turn_execution_id
