"""One run whose events the database refuses costs no other run its events; it ends failed
with the reason, at once, and frees its session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from agents.services import demo_agent_ensure
from chat import services as chat_services
from chat.models import Message, Session
from executions import log, runner
from executions.models import Execution
from promptrails.db import run_db
from promptrails.models import Workspace
from tests.helpers import make_tenant
from tests.support.live import ensure_local_model

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = "executions_executionevent"


@pytest.fixture
def refuses_poison() -> Iterator[None]:
    """The database refuses event rows whose data holds the word "poison" — as PostgreSQL
    refuses a NUL character — whatever the application cleans before writing."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {TABLE} "
                "WHEN NEW.data LIKE '%poison%' "
                "BEGIN SELECT RAISE(ABORT, 'unstorable event'); END")
        else:
            cursor.execute(
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                "IF NEW.data::text LIKE '%poison%' THEN "
                "RAISE EXCEPTION 'unstorable event' USING ERRCODE = '22000'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql")
            cursor.execute(f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {TABLE} "
                           "FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("DROP TRIGGER IF EXISTS refuse_poison")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS refuse_poison ON {TABLE}")
                cursor.execute("DROP FUNCTION IF EXISTS refuse_poison()")


def _session(name: str) -> tuple[Workspace, str]:
    ensure_local_model()
    tenant = make_tenant(name)
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    return tenant.workspace, session.id


async def _start(name: str, content: str) -> tuple[str, str, runner.LocalRun]:
    workspace, session_id = await sync_to_async(_session)(name)
    turn = await run_db(chat_services.turn_start, workspace=workspace, session_id=session_id,
                        content=content)
    assert turn.spec is not None
    return turn.execution_id, session_id, runner.start(turn.spec)


async def test_one_runs_unstorable_events_cost_no_other_run_its_events(
    refuses_poison: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPTRAILS_LOCAL_MODEL_DELAY", "0.01")
    # the bad run first: its batch comes before the good one's in every flush
    bad_id, bad_session, bad = await _start(
        "Poisoned", "say poison " + " ".join(f"b{i}" for i in range(400)))
    good_id, good_session, good = await _start(
        "Bystander", " ".join(f"g{i}" for i in range(100)))
    await asyncio.wait_for(asyncio.gather(bad.done.wait(), good.done.wait()), 60)

    # the other run streamed through every failed flush of the bad one and lost nothing
    execution = await run_db(Execution.objects.get, pk=good_id)
    assert execution.status == "completed", execution.error
    assert await run_db(log.read, good_id) == good.events
    assert good.events[-1]["type"] == "done"

    # the bad run was stopped and ended failed with the reason, its session free
    execution = await run_db(Execution.objects.get, pk=bad_id)
    assert execution.status == "failed"
    assert execution.error == "could not store the run's events (" + (
        "IntegrityError)" if connection.vendor == "sqlite" else "DataError)")
    assert "b399" not in (execution.output or {}).get("content", "")
    logged = await run_db(log.read, bad_id)
    assert logged[-1] == bad.events[-1]
    assert logged[-1]["type"] == "error" and logged[-1]["message"] == execution.error
    published = {event["seq"]: event for event in bad.events}
    assert all(published[event["seq"]] == event for event in logged)  # what could be stored
    assert any("poison" in event.get("content", "") for event in bad.events)
    assert not any("poison" in event.get("content", "") for event in logged)
    reply = await run_db(Message.objects.get, execution_id=bad_id, role="assistant")
    assert reply.metadata["incomplete"] is True and reply.metadata["error"] == execution.error
    session = await run_db(Session.objects.get, pk=bad_session)
    assert session.turn_execution_id is None
    workspace = await run_db(lambda: session.workspace)
    again = await run_db(chat_services.turn_start, workspace=workspace, session_id=bad_session,
                         content="again")
    assert again.spec is not None
    assert await run_db(Execution.objects.filter(pk=again.execution_id).exists)


def test_a_flush_of_many_runs_is_one_insert_in_one_transaction() -> None:
    from django.test.utils import CaptureQueriesContext

    workspace, _ = _session("Many")
    ids = [Execution.objects.create(workspace=workspace, agent_name="A", status="running").id
           for _ in range(3)]
    batches = {execution_id: [{"seq": 1, "type": "execution", "execution_id": execution_id},
                              {"seq": 2, "type": "content", "content": "a"},
                              {"seq": 3, "type": "content", "content": "b ü 你好 \u2028"},
                              # stored through plain SQL: what the ORM's JSONField would keep
                              {"seq": 4, "type": "tool_end", "id": "t1", "name": "look",
                               "summary": {"ö": [1, 2.5, None, True, {"deep": "\"q\" \\"}]}}]
               for execution_id in ids}
    with CaptureQueriesContext(connection) as queries:
        assert runner._append(batches) == {}
    # one statement (PostgreSQL: every row in it; SQLite: one executemany, logged "N times:")
    inserts = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    assert len(inserts) == 1
    for execution_id in ids:
        assert log.read(execution_id) == batches[execution_id]
