"""The turn path's invariants: one turn at a time, O(window) history, nothing lost."""

from __future__ import annotations

import importlib
import threading
from typing import Any

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import LLMModel
from agents.services import demo_agent_ensure
from chat import selectors
from chat.models import Message, Session
from chat.services import turn_start
from executions.models import Execution
from tests.chat.support import fake_openai_agent, headers
from tests.fakes.server import FakeReply
from tests.helpers import Tenant, assert_error
from tests.support.live import LiveTenant, ensure_local_model

BASE = "/api/v1/chat/sessions"
LONG = " ".join(f"word{i}" for i in range(30))  # a reply of ~35 words: about 1 s when slowed


def _send_all(url: str, key: str, targets: list[str], content: str) -> list[httpx.Response]:
    """POST one message per target at the same moment (one thread each)."""
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)

    def worker(i: int, session_id: str) -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            try:
                results[i] = client.post(f"{url}{BASE}/{session_id}/messages",
                                         headers=headers(key), json={"content": content})
            except Exception as exc:  # reported by the assertion below
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, sid)) for i, sid in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert all(isinstance(r, httpx.Response) for r in results), results
    return results


def test_twenty_simultaneous_sends_to_one_session(slow_tenant: LiveTenant) -> None:
    sdk, key = slow_tenant.sdk, slow_tenant.tenant.raw_key
    session = sdk.chat.create_session(agent_id=slow_tenant.agent_id)
    responses = _send_all(slow_tenant.server.url, key, [session.id] * 20, LONG)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "session_busy")
            assert int(response.headers["Retry-After"]) >= 1
    winner = next(r for r in responses if r.status_code == 201).json()["data"]

    history = sdk.chat.list_messages(session.id).data
    assert [(m.role, m.content) for m in history] == [
        ("user", LONG), ("assistant", winner["content"])]
    assert winner["content"].startswith("Turn 1.")
    executions = Execution.objects.filter(session_id=session.id)
    assert [e.status for e in executions] == ["completed"]
    # the session is free again: the next send is turn 2 with turn 1 in its history
    reply = sdk.chat.send_message(session.id, content="again").content
    assert reply.startswith("Turn 2.") and "word0" in reply


def test_sends_to_different_sessions_run_in_parallel(slow_tenant: LiveTenant) -> None:
    sdk, key = slow_tenant.sdk, slow_tenant.tenant.raw_key
    sessions = [sdk.chat.create_session(agent_id=slow_tenant.agent_id).id for _ in range(6)]
    responses = _send_all(slow_tenant.server.url, key, sessions, LONG)
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    for session_id, response in zip(sessions, responses, strict=True):
        data = response.json()["data"]
        assert data["session_id"] == session_id and data["content"].startswith("Turn 1.")
        assert Message.objects.filter(session_id=session_id).count() == 2


def _insert_messages(session: Session, n: int, text: str) -> None:
    """n messages, oldest first (ids sort before any real KSUID), inserted in bulk SQL."""
    table = Message._meta.db_table
    columns = ["id", "session_id", "role", "content", "metadata", "model", "token_count",
               "prompt_tokens", "completion_tokens", "cost", "created_at"]
    now = timezone.now()
    rows = [] if connection.vendor == "postgresql" else [
        (f"0{i:026d}", session.id, "user" if i % 2 == 0 else "assistant", f"{i} {text}",
         "{}", "", 0, 0, 0, 0.0, now) for i in range(n)]
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one statement: executemany is slow here
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                "SELECT '0' || lpad(i::text, 26, '0'), %s, "
                "CASE WHEN i %% 2 = 0 THEN 'user' ELSE 'assistant' END, i::text || ' ' || %s, "
                "'{}'::jsonb, '', 0, 0, 0, 0, %s FROM generate_series(0, %s) AS i",
                [session.id, text, now, n - 1],
            )
        else:
            cursor.executemany(sql, rows)


def test_a_send_reads_only_the_history_window(tenant: Tenant) -> None:
    ensure_local_model()
    LLMModel.objects.filter(provider="local").update(max_tokens=8000)  # a small window
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    text = "lorem ipsum dolor sit amet"
    _insert_messages(session, 100_000, text)
    assert Message.objects.filter(session=session).count() == 100_000

    pulled = 0
    real = selectors.history_newest_first

    def counting(**kwargs: Any) -> Any:
        nonlocal pulled
        for item in real(**kwargs):
            pulled += 1
            yield item

    real_units = selectors.history_units_newest_first

    def counting_units(**kwargs: Any) -> Any:  # the "summary" strategy reads stored messages
        nonlocal pulled
        for item in real_units(**kwargs):
            pulled += len(item[1])
            yield item

    import chat.services as services
    import chat.summaries as summaries
    original, services.history_newest_first = services.history_newest_first, counting
    original_units = summaries.history_units_newest_first
    summaries.history_units_newest_first = counting_units
    try:
        with CaptureQueriesContext(connection) as queries:
            turn = turn_start(workspace=tenant.workspace, session_id=session.id, content="hi")
    finally:
        services.history_newest_first = original
        summaries.history_units_newest_first = original_units

    assert turn.spec is not None
    window = len(turn.spec.run.history)
    assert 0 < window < 1000
    assert window <= pulled <= window + selectors.HISTORY_MAX_BATCH
    assert turn.spec.run.history[-1].content.startswith("99999 ")
    message_reads = [q["sql"] for q in queries.captured_queries
                     if '"chat_message"' in q["sql"] and q["sql"].lstrip().startswith("SELECT")]
    assert len(message_reads) <= window // selectors.HISTORY_BATCH + 2, message_reads
    assert all("LIMIT" in sql for sql in message_reads), message_reads
    assert len(queries.captured_queries) < 40


def test_provider_failure_mid_turn_loses_nothing(tenant: Tenant, fake_openai: Any,
                                                 transactional_db: None) -> None:
    agent = fake_openai_agent(workspace=tenant.workspace, base_url=fake_openai.base_url)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    fake_openai.enqueue(FakeReply(text="The partial answer goes on and on", fault="reset",
                                  fault_after=3))
    response = tenant.client.post(f"{BASE}/{session.id}/messages", {"content": "tell me"},
                                  format="json")
    error = assert_error(response, 502, "upstream_error")

    messages = list(Message.objects.filter(session=session).order_by("id"))
    assert [m.role for m in messages] == ["user", "assistant"]
    user, partial = messages
    assert user.content == "tell me"
    assert partial.content == "The partial answer"
    assert partial.metadata["incomplete"] is True
    execution = Execution.objects.get(session_id=session.id)
    assert execution.status == "failed"
    assert execution.error and isinstance(execution.error, str)
    assert partial.metadata["error"] == execution.error
    assert execution.output == {"content": "The partial answer", "incomplete": True}
    assert user.execution_id == partial.execution_id == execution.id
    assert error["details"] == {"execution_id": execution.id, "user_message_id": user.id,
                                "assistant_message_id": partial.id}
    assert execution.error in error["message"]
    session.refresh_from_db()
    assert session.turn_execution_id is None

    fake_openai.enqueue(FakeReply(text="All good now"))
    again = tenant.client.post(f"{BASE}/{session.id}/messages", {"content": "retry"},
                               format="json")
    assert again.status_code == 201, again.content
    assert again.json()["data"]["content"] == "All good now"
    sent = fake_openai.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "The partial answer"


def test_provider_down_before_any_text(tenant: Tenant, fake_openai: Any,
                                       transactional_db: None) -> None:
    agent = fake_openai_agent(workspace=tenant.workspace, base_url=fake_openai.base_url)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    fake_openai.default = FakeReply(fault="http_400")
    response = tenant.client.post(f"{BASE}/{session.id}/messages", {"content": "hello"},
                                  format="json")
    error = assert_error(response, 502, "upstream_error")
    assert [m.role for m in Message.objects.filter(session=session)] == ["user"]
    execution = Execution.objects.get(session_id=session.id)
    assert execution.status == "failed" and execution.error
    assert error["details"]["assistant_message_id"] is None
    assert error["details"]["execution_id"] == execution.id
    session.refresh_from_db()
    assert session.turn_execution_id is None


def test_session_totals_follow_every_stored_message(tenant: Tenant, fake_openai: Any,
                                                     transactional_db: None) -> None:
    agent = fake_openai_agent(workspace=tenant.workspace, base_url=fake_openai.base_url)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    fake_openai.enqueue(FakeReply(text="First answer"))
    fake_openai.enqueue(FakeReply(text="Cut short here and", fault="reset", fault_after=2))
    assert tenant.client.post(f"{BASE}/{session.id}/messages", {"content": "one"},
                              format="json").status_code == 201
    assert tenant.client.post(f"{BASE}/{session.id}/messages", {"content": "two"},
                              format="json").status_code == 502

    messages = list(Message.objects.filter(session=session))
    assert len(messages) == 4  # two user messages, a reply and a partial reply
    session.refresh_from_db()
    assert session.message_count == 4
    assert session.total_tokens == sum(m.token_count for m in messages) > 0
    assert session.total_cost == pytest.approx(sum(m.cost for m in messages))
    assert session.total_cost > 0
    assert session.updated_at == max(m.created_at for m in messages)


def test_totals_backfill_migration_matches_the_messages(tenant: Tenant) -> None:
    backfill = importlib.import_module("chat.migrations.0007_session_totals").BACKFILL
    full = Session.objects.create(workspace=tenant.workspace)
    empty = Session.objects.create(workspace=tenant.workspace)
    for tokens, cost in ((5, 0.0), (40, 0.125), (7, 0.5)):
        Message.objects.create(session=full, role="assistant", token_count=tokens, cost=cost)
    with connection.cursor() as cursor:
        cursor.execute(backfill)
    full.refresh_from_db()
    empty.refresh_from_db()
    assert (full.message_count, full.total_tokens) == (3, 52)
    assert full.total_cost == pytest.approx(0.625)
    assert (empty.message_count, empty.total_tokens, empty.total_cost) == (0, 0, 0)


def test_a_turn_runs_with_the_configuration_as_committed(tenant: Tenant) -> None:
    # prepared agents are cached per process; a prompt edited between two turns is used
    # by the second one (the turn reads the workspace's configuration revision with its
    # session, so a long-lived WebSocket's workspace object cannot hold an old one)
    from agents.models import PromptVersion

    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    first = turn_start(workspace=tenant.workspace, session_id=session.id, content="hi")
    Session.objects.filter(pk=session.id).update(turn_execution_id=None)
    prompt = PromptVersion.objects.get(prompt__workspace=tenant.workspace, is_current=True)
    prompt.system_prompt = "Edited in the admin."
    prompt.save()
    second = turn_start(workspace=tenant.workspace, session_id=session.id, content="again")
    assert first.spec is not None and second.spec is not None
    assert first.spec.run.system != "Edited in the admin."
    assert second.spec.run.system == "Edited in the admin."


def _held(session: Session, *, lease_seconds: int, heartbeat_age: int = 0) -> Execution:
    from datetime import timedelta

    now = timezone.now()
    holder = Execution.objects.create(
        workspace=session.workspace, agent=session.agent, session_id=session.id,
        status="running", heartbeat_at=now - timedelta(seconds=heartbeat_age))
    Session.objects.filter(pk=session.id).update(
        turn_execution_id=holder.id, turn_lease_until=now + timedelta(seconds=lease_seconds))
    return holder


def test_a_busy_session_refuses_the_turn_and_writes_nothing(tenant: Tenant) -> None:
    from promptrails.errors import SessionBusy

    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    holder = _held(session, lease_seconds=60)
    with pytest.raises(SessionBusy):
        turn_start(workspace=tenant.workspace, session_id=session.id, content="hi")
    assert not Message.objects.filter(session=session).exists()
    assert list(Execution.objects.filter(session_id=session.id)) == [holder]
    session.refresh_from_db()
    assert session.turn_execution_id == holder.id and session.message_count == 0


def test_a_turn_whose_lease_ran_out_is_ended_before_the_new_one(tenant: Tenant) -> None:
    from executions import log

    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    holder = _held(session, lease_seconds=-60, heartbeat_age=3600)
    log.append(holder.id, [{"seq": 1, "type": "content", "content": "Partial an"}])
    turn = turn_start(workspace=tenant.workspace, session_id=session.id, content="again")
    holder.refresh_from_db()
    assert holder.status == "failed" and holder.error == "interrupted"
    messages = list(Message.objects.filter(session=session).order_by("id"))
    # the dead turn's partial reply is stored before the new message
    assert [(m.role, m.content) for m in messages] == [("assistant", "Partial an"),
                                                       ("user", "again")]
    assert messages[0].metadata["incomplete"] is True
    session.refresh_from_db()
    assert session.turn_execution_id == turn.execution_id and session.message_count == 2
    assert session.updated_at == messages[-1].created_at


def _finished(execution_id: str, content: str, status: str = "completed") -> Any:
    from agents.runtime.types import Usage
    from executions.types import RunResult

    return RunResult(execution_id=execution_id, status=status, content=content,
                       error=None if status == "completed" else "boom",
                       incomplete=status != "completed",
                       usage=Usage(prompt_tokens=3, completion_tokens=4), cost=0.25,
                       model_id="m", duration_ms=1)


@pytest.mark.parametrize("content", ["A reply", ""])
def test_a_finishing_turn_frees_only_its_own_lock(tenant: Tenant, content: str) -> None:
    from chat.services import turn_finish

    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    late = Execution.objects.create(workspace=tenant.workspace, agent=agent,
                                    session_id=session.id, status="running")
    holder = _held(session, lease_seconds=60)
    # a turn that lost the session (recovered, then taken by `holder`) ends late: its reply
    # is kept and counted, the holder keeps the lock
    stored = turn_finish(_finished(late.id, content, "completed" if content else "failed"),
                         session_id=session.id)
    session.refresh_from_db()
    assert session.turn_execution_id == holder.id and session.turn_lease_until is not None
    assert session.message_count == (1 if content else 0)
    assert session.total_tokens == (7 if content else 0)
    if stored is not None:
        assert session.updated_at == stored.created_at
    # the holder ends: freed, in the same UPDATE that counts its reply
    reply = turn_finish(_finished(holder.id, content or "x"), session_id=session.id)
    session.refresh_from_db()
    assert session.turn_execution_id is None and session.turn_lease_until is None
    assert reply is not None and session.updated_at == reply.created_at
    assert session.message_count == (2 if content else 1)
