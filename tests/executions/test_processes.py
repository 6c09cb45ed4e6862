"""Across server processes: following from another process, and a process that dies mid-turn."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from chat.models import Message, Session
from executions.models import Execution, ExecutionEvent
from executions.services import executions_recover_stale
from tests.chat.support import SSEReader, events_of, follow_execution, headers, parse_frames
from tests.live import LiveServer
from tests.support.live import LiveTenant, make_live_tenant
from tests.support.wait import wait_for

LONG = " ".join(f"w{i}" for i in range(50))


def test_follow_from_another_process(slow_tenant: LiveTenant, asgi_server: LiveServer) -> None:
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL: the in-memory channel layer cannot be shared by processes")
    a, b, key = slow_tenant.server.url, asgi_server.url, slow_tenant.tenant.raw_key
    session = slow_tenant.sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    on_a: list[dict[str, Any]] = []
    on_b: dict[str, list[dict[str, Any]]] = {}
    threads: list[threading.Thread] = []

    def follow_on_b(name: str, execution_id: str, after: int | None) -> None:
        _, body = follow_execution(b, key, execution_id, last_event_id=after)
        on_b[name] = events_of(parse_frames(body.decode()))

    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{a}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": LONG},
    ) as response:
        for frame in SSEReader(response):
            if frame.comment:
                continue
            on_a.append({"seq": frame.id, **frame.data})
            execution_id = on_a[0]["execution_id"]
            if len(on_a) == 1:
                threads.append(threading.Thread(target=follow_on_b,
                                                args=("start", execution_id, 0)))
                threads[-1].start()
            if len(on_a) == 6:
                threads.append(threading.Thread(target=follow_on_b,
                                                args=("middle", execution_id, 4)))
                threads[-1].start()
    for thread in threads:
        thread.join(30)
    assert on_a[-1]["type"] == "done" and len(on_a) > 20
    assert on_b["start"] == on_a
    assert on_b["middle"] == on_a[4:]


@pytest.fixture
def crash_server(live_server_factory: Any, transactional_db: None) -> LiveServer:
    return live_server_factory(PROMPTRAILS_LOCAL_MODEL_DELAY="0.05",
                               PROMPTRAILS_TURN_LEASE_SECONDS="2")


def test_a_process_that_dies_mid_turn_loses_nothing(crash_server: LiveServer,
                                                    asgi_server: LiveServer,
                                                    settings: Any) -> None:
    tenant = make_live_tenant(crash_server, "Crash A")
    key = tenant.tenant.raw_key
    session = tenant.sdk.chat.create_session(agent_id=tenant.agent_id)
    seen: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{crash_server.url}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": LONG},
    ) as response:
        for frame in SSEReader(response):
            if not frame.comment:
                seen.append({"seq": frame.id, **frame.data})
            if len([e for e in seen if e["type"] == "content"]) == 4:
                break
        execution_id = seen[0]["execution_id"]
        wait_for(lambda: ExecutionEvent.objects.filter(execution_id=execution_id,
                                                       type="content").exists(),
                 what="content in the event log")
        crash_server.kill()
    assert Execution.objects.get(pk=execution_id).status == "running"

    settings.TURN_LEASE_SECONDS = 2
    wait_for(lambda: executions_recover_stale() or
             Execution.objects.get(pk=execution_id).status != "running",
             timeout=20, interval=0.2, what="recovery of the stale execution")

    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "failed" and execution.error == "interrupted"
    partial = Message.objects.get(session_id=session.id, role="assistant")
    assert partial.metadata["incomplete"] is True and partial.execution_id == execution_id
    streamed = "".join(e["content"] for e in seen if e["type"] == "content")
    assert partial.content and (partial.content.startswith(streamed)
                                or streamed.startswith(partial.content))
    assert execution.output == {"content": partial.content, "incomplete": True}
    stored = Session.objects.get(pk=session.id)
    assert stored.turn_execution_id is None and stored.updated_at >= partial.created_at

    # its stream (from any process) replays what was logged and ends with the error
    _, body = follow_execution(asgi_server.url, key, execution_id)
    replay = events_of(parse_frames(body.decode()))
    assert replay[-1]["type"] == "error" and replay[-1]["message"] == "interrupted"
    assert [e["seq"] for e in replay] == list(range(1, len(replay) + 1))

    # and the session takes a new message on a live server
    response = httpx.post(f"{asgi_server.url}/api/v1/chat/sessions/{session.id}/messages",
                          headers=headers(key), json={"content": "are you back?"}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["content"].startswith("Turn 2.")
    roles = list(Message.objects.filter(session_id=session.id).values_list("role", flat=True))
    assert roles == ["user", "assistant", "user", "assistant"]


def test_followers_of_a_killed_turn_get_one_terminal_event_and_the_sweep_goes_on(
    live_server_factory: Any, transactional_db: None, settings: Any,
) -> None:
    """A turn's process is killed while followers on another process stream it (having seen
    events its log never got); a sweep by `manage.py recover_executions` meets stale runs it
    cannot write back (their session is gone, or another workspace's) and still recovers
    the turn; every follower then gets exactly one terminal `error` event, promptly."""
    redis = bool(os.environ.get("REDIS_URL"))
    runner_server = live_server_factory(PROMPTRAILS_LOCAL_MODEL_DELAY="0.01",
                                        PROMPTRAILS_TURN_LEASE_SECONDS="2")
    # with Redis the end can only come over the bus before the (60 s) keepalive; without,
    # processes share no bus and the follower notices the end at its keepalive
    follower_server = live_server_factory(
        PROMPTRAILS_TURN_LEASE_SECONDS="2",
        PROMPTRAILS_SSE_KEEPALIVE_SECONDS="60" if redis else "1")
    tenant = make_live_tenant(runner_server, "Killed turn")
    other = make_live_tenant(runner_server, "Bystander")
    key = tenant.tenant.raw_key
    session = tenant.sdk.chat.create_session(agent_id=tenant.agent_id)
    theirs = other.sdk.chat.create_session(agent_id=other.agent_id)
    poisoned = _stale_runs(tenant, ["0" * 27, theirs.id, "1" * 27])

    seen: dict[str, list[dict[str, Any]]] = {"start": [], "middle": []}
    threads: list[threading.Thread] = []

    def follow(name: str, execution_id: str, after: int) -> None:
        with httpx.Client(timeout=90) as client, client.stream(
            "GET", f"{follower_server.url}/api/v1/executions/{execution_id}/stream",
            headers={"X-API-Key": key, "Last-Event-ID": str(after)},
        ) as response:
            for frame in SSEReader(response):
                if not frame.comment:
                    seen[name].append({"seq": frame.id, **frame.data})

    words = " ".join(f"w{i}" for i in range(3000))
    on_runner: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{runner_server.url}/api/v1/chat/sessions/{session.id}/messages/stream",
        headers=headers(key), json={"content": words},
    ) as response:
        for frame in SSEReader(response):
            if frame.comment:
                continue
            on_runner.append({"seq": frame.id, **frame.data})
            execution_id = on_runner[0]["execution_id"]
            if len(on_runner) in (1, 6):
                name, after = ("start", 0) if len(on_runner) == 1 else ("middle", 4)
                threads.append(threading.Thread(target=follow, args=(name, execution_id,
                                                                     after)))
                threads[-1].start()
            if len(on_runner) > 40 and (not redis or len(seen["middle"]) > 20):
                break
        wait_for(lambda: ExecutionEvent.objects.filter(execution_id=execution_id,
                                                       type="content").exists(),
                 what="content in the event log")
        logged_until = _freeze_ahead_of_the_log(runner_server, execution_id,
                                                seen["start"] if redis else None)
        runner_server.kill()

    settings.TURN_LEASE_SECONDS = 2

    def swept() -> bool:
        out = io.StringIO()
        call_command("recover_executions", stdout=out)
        assert out.getvalue().startswith("recovered ")
        return Execution.objects.get(pk=execution_id).status != "running"

    wait_for(swept, timeout=30, interval=0.3, what="recovery of the killed turn")
    for thread in threads:
        thread.join(20)  # well before the follower's keepalive (with Redis)
        assert not thread.is_alive(), "a follower got no end"

    for name, events in seen.items():
        terminal = [e for e in events if e["type"] in ("done", "error")]
        assert len(terminal) == 1 and events[-1] is terminal[0], (name, events[-3:])
        assert terminal[0]["message"] == "interrupted"
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs)) and seqs[-1] == seqs[-2] + 1, (name, seqs[-3:])
    if redis:  # what made the logged end useless to them: they had seen more than the log
        assert seen["start"][-1]["seq"] > seen["start"][-2]["seq"] > logged_until
    # a follower resuming where one of them was before the end gets that end, once
    after = seen["start"][-2]["seq"]
    _, body = follow_execution(follower_server.url, key, execution_id, last_event_id=after)
    resumed = events_of(parse_frames(body.decode()))
    assert [e["type"] for e in resumed][-1:] == ["error"]
    assert [e["type"] for e in resumed].count("error") == 1 and resumed[0]["seq"] > after

    # the turn is recovered: partial reply stored, session free; the stale runs that named
    # sessions not theirs (or none that exists) ended too, writing nothing there
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "failed" and execution.error == "interrupted"
    assert Message.objects.get(session_id=session.id, role="assistant").metadata["incomplete"]
    assert Session.objects.get(pk=session.id).turn_execution_id is None
    for run in poisoned:
        run.refresh_from_db()
        assert run.status == "failed" and run.error == "interrupted"
    assert not Message.objects.filter(session_id=theirs.id).exists()


def _freeze_ahead_of_the_log(server: LiveServer, execution_id: str,
                             seen: list[dict[str, Any]] | None) -> int:
    """Stop the server's process (SIGSTOP) at a moment when the follower that collects
    `seen` has had more events live than the event log holds (with None: at once); the
    last logged seq. Frozen, the process flushes nothing more before it is killed."""
    for _ in range(30):
        server.process.send_signal(signal.SIGSTOP)
        time.sleep(0.15)  # what it published reaches the follower
        logged = ExecutionEvent.objects.filter(execution_id=execution_id).order_by("-last_seq")
        until = logged.values_list("last_seq", flat=True).first() or 0
        if seen is None or (seen and seen[-1]["seq"] > until):
            return until
        server.process.send_signal(signal.SIGCONT)
        time.sleep(0.35)  # long enough to renew its lease: never recovered while frozen
    raise AssertionError("the follower never got ahead of the event log")


def _stale_runs(tenant: LiveTenant, session_ids: list[str]) -> list[Execution]:
    """Runs left running an hour ago by a process that died, each naming a session."""
    from datetime import timedelta

    from django.utils import timezone

    from executions import log

    then = timezone.now() - timedelta(hours=1)
    runs = []
    for index, session_id in enumerate(session_ids):
        run = Execution.objects.create(
            workspace=tenant.tenant.workspace, agent_name="A", session_id=session_id,
            status="running", started_at=then, heartbeat_at=then + timedelta(seconds=index))
        log.append(run.id, [{"seq": 1, "type": "content", "content": "not yours"}])
        runs.append(run)
    return runs
