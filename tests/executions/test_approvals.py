"""Human approval of tool calls: a run parks, any process resumes it on the decision."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from agents.models import AgentVersion, AgentVersionTool
from chat.models import Message, Session
from executions.models import Approval, Execution, ExecutionEvent, Span
from tests.chat.support import SSEReader, events_of, follow_execution, headers, parse_frames
from tests.live import LiveServer
from tests.support.live import LiveTenant, make_live_tenant
from tests.support.wait import wait_for

GATED = '/tool calculator {"expression": "6*7"}'


def _gate(tenant: LiveTenant, **config: Any) -> None:
    """Attach the demo agent's calculator with requires_approval (before its first turn)."""
    AgentVersionTool.objects.filter(version__agent_id=tenant.agent_id,
                                    tool__name="calculator").update(requires_approval=True)
    if config:
        for version in AgentVersion.objects.filter(agent_id=tenant.agent_id):
            version.config = {**(version.config or {}), **config}
            version.save(update_fields=["config"])


def _send(server: LiveServer, key: str, session_id: str, content: str = GATED) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v1/chat/sessions/{session_id}/messages",
                      headers=headers(key), json={"content": content}, timeout=30)


def _parked(server: LiveServer, tenant: LiveTenant) -> tuple[str, str]:
    """A session whose turn is parked on the calculator; (session id, execution id)."""
    key = tenant.tenant.raw_key
    session = tenant.sdk.chat.create_session(agent_id=tenant.agent_id)
    response = _send(server, key, session.id)
    assert response.status_code == 201, response.text
    body = response.json()["data"]
    assert body["status"] == "waiting_approval" and body["assistant_message"] is None
    execution_id = body["execution_id"]
    assert Execution.objects.get(pk=execution_id).status == "waiting_approval"
    return session.id, execution_id


def _finished(execution_id: str) -> Execution:
    wait_for(lambda: Execution.objects.get(pk=execution_id).is_finished, timeout=20,
             what="the resumed run to end")
    return Execution.objects.get(pk=execution_id)


def _stream(server: LiveServer, key: str, execution_id: str) -> list[dict[str, Any]]:
    _, body = follow_execution(server.url, key, execution_id)
    return events_of(parse_frames(body.decode()))


def test_park_approve_reply(live: LiveServer, transactional_db: None) -> None:
    tenant = make_live_tenant(live, "Approve A")
    _gate(tenant)
    key = tenant.tenant.raw_key
    session_id, execution_id = _parked(live, tenant)
    approval = Approval.objects.get(execution_id=execution_id)
    assert approval.status == "pending" and approval.tool_name == "calculator"
    assert approval.arguments == {"expression": "6*7"}
    assert approval.session_id == session_id and approval.expires_at > timezone.now()
    assert not Message.objects.filter(session_id=session_id, role="assistant").exists()

    # the session stays busy, saying why
    busy = _send(live, key, session_id, "hello?")
    assert busy.status_code == 409
    assert busy.json()["error"]["details"]["status"] == "waiting_approval"

    # the SDK's inbox lists it; the v1 routes show it
    inbox = tenant.sdk.executions.approval_inbox()
    assert [e.id for e in inbox.data] == [execution_id]
    listed = httpx.get(f"{live.url}/api/v1/approvals?status=pending", headers=headers(key))
    assert [a["id"] for a in listed.json()["data"]] == [approval.id]
    assert listed.json()["data"][0]["tool"] == {"id": approval.tool_call_id,
                                                "name": "calculator",
                                                "arguments": {"expression": "6*7"}}

    # a follower sees approval_required now, and the continuation on the same stream
    seen: list[dict[str, Any]] = []

    def follow() -> None:
        seen.extend(_stream(live, key, execution_id))

    follower = threading.Thread(target=follow)
    follower.start()
    wait_for(lambda: bool(seen) or follower.is_alive(), what="the follower")
    execution = tenant.sdk.executions.approve(execution_id, reason="fine")
    assert execution.id == execution_id
    ended = _finished(execution_id)
    follower.join(20)
    assert ended.status == "completed"
    reply = Message.objects.get(session_id=session_id, role="assistant")
    assert "6*7 = 42" in reply.content and reply.execution_id == execution_id
    assert Session.objects.get(pk=session_id).turn_execution_id is None
    types = [e["type"] for e in seen]
    assert types.index("approval_required") < types.index("tool_start") < types.index("done")
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    required = next(e for e in seen if e["type"] == "approval_required")
    assert required["approval_id"] == approval.id and required["tool"]["name"] == "calculator"
    approval.refresh_from_db()
    assert approval.status == "approved" and approval.reason == "fine"
    assert approval.decided_by.startswith("api_key:") and approval.decided_at is not None
    span = Span.objects.get(execution_id=execution_id, kind="approval")
    assert span.attributes["decision"] == "approved"
    assert span.attributes["decided_by"] == approval.decided_by

    # a second decision is refused; the session takes a new message
    again = httpx.post(f"{live.url}/api/v1/executions/{execution_id}/deny",
                       headers=headers(key), json={})
    assert again.status_code == 400 and "already decided" in again.json()["error"]["message"]
    again = httpx.post(f"{live.url}/api/v1/approvals/{approval.id}/decide",
                       headers=headers(key), json={"decision": "rejected"})
    assert again.status_code == 400
    assert _send(live, key, session_id, "thanks").status_code == 201


def test_park_deny_reply_mentions_the_denial(live: LiveServer, transactional_db: None) -> None:
    tenant = make_live_tenant(live, "Deny A")
    _gate(tenant)
    key = tenant.tenant.raw_key
    session_id, execution_id = _parked(live, tenant)
    approval = Approval.objects.get(execution_id=execution_id)
    decided = httpx.post(f"{live.url}/api/v1/approvals/{approval.id}/decide",
                         headers=headers(key),
                         json={"decision": "rejected", "reason": "not today"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["data"]["status"] == "rejected"
    assert _finished(execution_id).status == "completed"
    reply = Message.objects.get(session_id=session_id, role="assistant")
    assert "denied by a reviewer: not today" in reply.content
    assert "42" not in reply.content  # the tool never ran
    replay = _stream(live, key, execution_id)
    assert [e["type"] for e in replay][-1] == "done"
    assert [e["seq"] for e in replay] == list(range(1, len(replay) + 1))


def test_cross_workspace_refusals_and_double_decision(live: LiveServer,
                                                      transactional_db: None) -> None:
    tenant = make_live_tenant(live, "Mine A")
    other = make_live_tenant(live, "Theirs B")
    _gate(tenant)
    _, execution_id = _parked(live, tenant)
    approval = Approval.objects.get(execution_id=execution_id)
    theirs = other.tenant.raw_key
    for method, path, body in [
        ("POST", f"/api/v1/executions/{execution_id}/approve", {}),
        ("POST", f"/api/v1/executions/{execution_id}/deny", {}),
        ("POST", f"/api/v1/executions/{execution_id}/cancel", {}),
        ("GET", f"/api/v1/approvals/{approval.id}", None),
        ("POST", f"/api/v1/approvals/{approval.id}/decide", {"decision": "approved"}),
    ]:
        response = httpx.request(method, f"{live.url}{path}", headers=headers(theirs),
                                 json=body)
        assert response.status_code == 404, (path, response.text)
    assert other.sdk.executions.approval_inbox().data == []
    listed = httpx.get(f"{live.url}/api/v1/approvals", headers=headers(theirs)).json()
    assert listed["data"] == []
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert Execution.objects.get(pk=execution_id).status == "waiting_approval"

    # two decisions at once: exactly one wins
    key = tenant.tenant.raw_key
    results: list[int] = []

    def decide(decision: str) -> None:
        results.append(httpx.post(f"{live.url}/api/v1/approvals/{approval.id}/decide",
                                  headers=headers(key), json={"decision": decision},
                                  timeout=30).status_code)

    threads = [threading.Thread(target=decide, args=(d,)) for d in ("approved", "rejected")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [200, 400]
    assert _finished(execution_id).status == "completed"
    assert ExecutionEvent.objects.filter(execution_id=execution_id, type="done").count() == 1


def test_cancel_while_parked(live: LiveServer, transactional_db: None) -> None:
    tenant = make_live_tenant(live, "Cancel A")
    _gate(tenant)
    key = tenant.tenant.raw_key
    session_id, execution_id = _parked(live, tenant)
    cancelled = tenant.sdk.executions.cancel(execution_id)
    assert cancelled.status == "cancelled"
    assert Approval.objects.get(execution_id=execution_id).status == "rejected"
    assert Session.objects.get(pk=session_id).turn_execution_id is None
    replay = _stream(live, key, execution_id)
    assert replay[-1]["type"] == "error" and replay[-1]["message"] == "cancelled"
    refused = httpx.post(f"{live.url}/api/v1/executions/{execution_id}/approve",
                         headers=headers(key), json={})
    assert refused.status_code == 400
    assert _send(live, key, session_id, "next").status_code == 201


def test_decision_on_another_process_and_after_every_restart(
    sweeping_servers: Any,
) -> None:
    """The turn parks on A; every server process is stopped and new ones started; the
    decision arrives at B, which resumes the run; a stream opened on A before the restart
    is gone, but one on C (with Redis, opened before the decision) sees the continuation."""
    a = sweeping_servers(PROMPTRAILS_TURN_LEASE_SECONDS="2")
    tenant = make_live_tenant(a, "Restart A")
    _gate(tenant)
    key = tenant.tenant.raw_key
    session_id, execution_id = _parked(a, tenant)
    a.stop()
    b = sweeping_servers(PROMPTRAILS_TURN_LEASE_SECONDS="2")
    c = sweeping_servers(PROMPTRAILS_TURN_LEASE_SECONDS="2")
    # the lease sweep of the new processes leaves a parked run alone
    assert Execution.objects.get(pk=execution_id).status == "waiting_approval"
    redis = bool(os.environ.get("REDIS_URL"))
    seen: list[dict[str, Any]] = []
    follower = None
    if redis:
        ready = threading.Event()

        def follow() -> None:
            with httpx.Client(timeout=30) as client, client.stream(
                "GET", f"{c.url}/api/v1/executions/{execution_id}/stream",
                headers=headers(key),
            ) as response:
                for frame in SSEReader(response):
                    if frame.comment:
                        continue
                    seen.append({"seq": frame.id, **frame.data})
                    if frame.data.get("type") == "approval_required":
                        ready.set()
                    if frame.data.get("type") in ("done", "error"):
                        return

        follower = threading.Thread(target=follow)
        follower.start()
        assert ready.wait(20)
    response = httpx.post(f"{b.url}/api/v1/executions/{execution_id}/approve",
                          headers=headers(key), json={}, timeout=30)
    assert response.status_code == 200, response.text
    assert _finished(execution_id).status == "completed"
    reply = Message.objects.get(session_id=session_id, role="assistant")
    assert "6*7 = 42" in reply.content
    replay = _stream(c, key, execution_id)
    assert [e["seq"] for e in replay] == list(range(1, len(replay) + 1))
    assert replay[-1]["type"] == "done"
    if follower is not None:
        follower.join(20)
        assert [{k: v for k, v in e.items() if k != "seq"} for e in seen] == \
            [{k: v for k, v in e.items() if k != "seq"} for e in replay]


def test_expiry_applies_the_default_once_with_two_sweepers(
    sweeping_servers: Any,
) -> None:
    """Two processes sweep; the parked call expires; exactly one of them applies the default
    (deny) and resumes the run."""
    a = sweeping_servers(PROMPTRAILS_TURN_LEASE_SECONDS="2")
    b = sweeping_servers(PROMPTRAILS_TURN_LEASE_SECONDS="2")
    tenant = make_live_tenant(a, "Expiry A")
    _gate(tenant, approval_timeout_seconds=3600)
    key = tenant.tenant.raw_key
    session_id, execution_id = _parked(a, tenant)
    other = tenant.sdk.chat.create_session(agent_id=tenant.agent_id)
    assert _send(b, key, other.id, "b runs a turn too").status_code == 201
    # both sweep now; the call is overdue
    Approval.objects.filter(execution_id=execution_id).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert _finished(execution_id).status == "completed"
    approval = Approval.objects.get(execution_id=execution_id)
    assert approval.status == "expired" and approval.decided_by == "system:expiry"
    reply = Message.objects.get(session_id=session_id, role="assistant")
    assert "denied by a reviewer: the approval expired" in reply.content
    events = list(ExecutionEvent.objects.filter(execution_id=execution_id)
                  .values_list("type", flat=True))
    assert events.count("tool_start") == 1 and events.count("done") == 1
    assert Span.objects.filter(execution_id=execution_id, kind="approval").count() == 1
    assert Message.objects.filter(session_id=session_id, role="assistant").count() == 1


@pytest.mark.parametrize("route", ["approve", "deny"])
def test_decisions_on_unparked_executions_are_400(live: LiveServer, transactional_db: None,
                                                  route: str) -> None:
    tenant = make_live_tenant(live, "Plain A")
    session = tenant.sdk.chat.create_session(agent_id=tenant.agent_id)
    response = _send(live, tenant.tenant.raw_key, session.id, "hi")
    execution_id = response.json()["data"]["execution_id"]
    refused = httpx.post(f"{live.url}/api/v1/executions/{execution_id}/{route}",
                         headers=headers(tenant.tenant.raw_key), json={})
    assert refused.status_code == 400


async def test_socket_sees_the_park_and_decides(live_tenant: LiveTenant) -> None:
    """On the session's socket: approval_required arrives, a deny frame decides, the
    continuation and the stored reply follow on the same socket."""
    import asyncio
    import json

    from asgiref.sync import sync_to_async
    from websockets.asyncio.client import connect

    await sync_to_async(_gate)(live_tenant)
    session_id = str(live_tenant.sdk.chat.create_session(agent_id=live_tenant.agent_id).id)
    url = (f"{live_tenant.server.url.replace('http://', 'ws://')}"
           f"/api/v1/chat/sessions/{session_id}/ws")

    async def recv(ws: Any) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(ws.recv(), 15))  # type: ignore[no-any-return]

    frames: list[dict[str, Any]] = []
    async with connect(url, additional_headers={"X-API-Key": live_tenant.tenant.raw_key}) as ws:
        await ws.send(json.dumps({"type": "message", "content": GATED}))
        while not frames or frames[-1]["type"] != "approval_required":
            frames.append(await recv(ws))
        execution_id = frames[-1]["execution_id"]
        await ws.send(json.dumps({"type": "deny", "execution_id": execution_id,
                                  "reason": "over the socket"}))
        while not (any(f["type"] == "done" for f in frames) and any(
                f["type"] == "message" and f["message"]["role"] == "assistant"
                for f in frames)):
            frames.append(await recv(ws))
        await ws.send(json.dumps({"type": "approve", "execution_id": execution_id}))
        refused = await recv(ws)
    assert refused["type"] == "error" and refused["code"] == "validation_error"
    events = [f for f in frames if "seq" in f]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    reply = next(f["message"] for f in frames
                 if f["type"] == "message" and f["message"]["role"] == "assistant")
    assert "denied by a reviewer: over the socket" in reply["content"]
    approval = await sync_to_async(Approval.objects.get)(execution_id=execution_id)
    assert approval.status == "rejected" and approval.decided_by.startswith("api_key:")


def test_a_fresh_process_that_ran_no_turn_applies_expiry(
    sweeping_servers: Any,
) -> None:
    """After every process that ran turns is gone, a new one that only answers requests
    (no turn of its own) still sweeps: the overdue call gets its default, once."""
    a = sweeping_servers(PROMPTRAILS_TURN_LEASE_SECONDS="2")
    tenant = make_live_tenant(a, "Expiry fresh")
    _gate(tenant, approval_timeout_seconds=3600)
    session_id, execution_id = _parked(a, tenant)
    a.stop()
    Approval.objects.filter(execution_id=execution_id).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    fresh = sweeping_servers(PROMPTRAILS_TURN_LEASE_SECONDS="2")  # only /healthz so far
    assert _finished(execution_id).status == "completed"
    approval = Approval.objects.get(execution_id=execution_id)
    assert approval.status == "expired" and approval.decided_by == "system:expiry"
    reply = Message.objects.get(session_id=session_id, role="assistant")
    assert "denied by a reviewer: the approval expired" in reply.content
    assert fresh.process.poll() is None
