"""Recovery of runs whose process died: each stale run on its own, oldest first; a run's
partial reply goes only to the session it held (its workspace's, its turn lock); one that
cannot be recovered is logged and skipped, never blocking the others."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents.services import demo_agent_ensure
from chat.models import Message, Session
from executions import log, services
from executions.models import Execution
from executions.services import executions_recover_stale
from executions.types import RunResult
from tests.helpers import Tenant
from tests.support.live import ensure_local_model

pytestmark = pytest.mark.django_db(transaction=True)


def _session(tenant: Tenant) -> Session:
    ensure_local_model()
    agent = demo_agent_ensure(workspace=tenant.workspace)
    return Session.objects.create(workspace=tenant.workspace, agent=agent)


def _stale_run(tenant: Tenant, *, session_id: str | None, age: int = 3600,
               holds: Session | None = None, content: str = "Partial reply") -> Execution:
    """An execution left running by a process that died `age` seconds ago, with some
    content in its log (and, with `holds`, the turn lock of that session)."""
    then = timezone.now() - timedelta(seconds=age)
    execution = Execution.objects.create(
        workspace=tenant.workspace, agent_name="A", session_id=session_id, status="running",
        started_at=then, heartbeat_at=then)
    log.append(execution.id, [{"seq": 1, "type": "execution", "execution_id": execution.id},
                              {"seq": 2, "type": "content", "content": content}])
    if holds is not None:
        Session.objects.filter(pk=holds.pk).update(
            turn_execution_id=execution.id, turn_lease_until=then + timedelta(seconds=30))
    return execution


def _snapshot(session: Session) -> tuple[Any, ...]:
    session.refresh_from_db()
    return (list(session.messages.values_list("id", flat=True)), session.turn_execution_id,
            session.message_count, session.updated_at)


def test_recovery_writes_only_into_the_session_the_turn_held(tenant: Tenant,
                                                             other_tenant: Tenant) -> None:
    victim = _session(other_tenant)
    held = _session(other_tenant)
    # another turn of the victim's workspace holds `held`: nothing may touch it either
    holder = _stale_run(other_tenant, session_id=held.id, holds=held, age=0)
    before = _snapshot(victim), _snapshot(held)
    mine = _session(tenant)
    runs = [
        _stale_run(tenant, session_id=victim.id, content="B's text in A's session"),
        _stale_run(tenant, session_id=held.id, content="B's text in A's busy session"),
        _stale_run(tenant, session_id="0" * 27, content="no such session"),
        _stale_run(tenant, session_id=mine.id, content="an execute, not a turn"),
    ]
    assert executions_recover_stale() == len(runs)
    for run in runs:
        run.refresh_from_db()
        assert run.status == "failed" and run.error == "interrupted"
        assert run.output == {"content": log.read(run.id)[1]["content"], "incomplete": True}
        assert log.read(run.id)[-1]["type"] == "error"
    assert (_snapshot(victim), _snapshot(held)) == before
    assert not Message.objects.exists()  # not even in its own session: it held no turn
    holder.refresh_from_db()
    assert holder.status == "running"


def test_a_sweep_with_a_poisoned_run_still_recovers_the_others(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = _session(tenant)
    # a chat turn killed mid-reply (its lease ran out a minute ago), and older and newer
    # stale runs whose session does not exist
    turn = _stale_run(tenant, session_id=session.id, holds=session, age=60)
    gone = [_stale_run(tenant, session_id="1" * 27, age=age) for age in (30, 7200)]
    # and one whose recovery fails whatever happens (a hook that always raises)
    poisoned = _stale_run(tenant, session_id=None, age=90)
    hooks = list(services._recovery_hooks)

    def broken(finished: RunResult, execution: Execution) -> None:
        if execution.pk == poisoned.pk:
            raise RuntimeError("this run's recovery can never be stored")

    monkeypatch.setattr(services, "_recovery_hooks", [broken, *hooks])
    out = StringIO()
    call_command("recover_executions", stdout=out)
    assert out.getvalue().strip() == "recovered 4 execution(s)"

    for run in (turn, *gone, poisoned):
        run.refresh_from_db()
        assert run.status == "failed" and run.error == "interrupted", run.pk
    # the turn's partial reply is in its session, which is free again
    (reply,) = Message.objects.filter(session=session)
    assert reply.content == "Partial reply" and reply.metadata["incomplete"] is True
    session.refresh_from_db()
    assert session.turn_execution_id is None
    # the poisoned one ended without its hooks (no retry in every sweep from now on)
    assert not poisoned.spans.exists() and turn.spans.exists()
    assert executions_recover_stale() == 0
    call_command("recover_executions", stdout=StringIO())


def test_stale_runs_are_swept_oldest_first(tenant: Tenant) -> None:
    runs = [_stale_run(tenant, session_id=None, age=age) for age in (100, 300, 200)]
    assert services.stale_execution_ids() == [runs[1].id, runs[2].id, runs[0].id]


def test_a_session_held_by_a_run_ended_without_its_hooks_takes_a_new_turn(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chat.services import turn_start

    session = _session(tenant)
    turn = _stale_run(tenant, session_id=session.id, holds=session)

    def broken(finished: RunResult, execution: Execution) -> None:
        raise RuntimeError("no hook can be stored")

    monkeypatch.setattr(services, "_recovery_hooks", [broken])
    assert executions_recover_stale() == 1  # ended, but the session still names it
    session.refresh_from_db()
    assert session.turn_execution_id == turn.id
    monkeypatch.undo()
    started = turn_start(workspace=tenant.workspace, session_id=session.id, content="again")
    session.refresh_from_db()
    assert session.turn_execution_id == started.execution_id


def test_a_sweep_never_ends_the_runs_alive_in_its_own_process(tenant: Tenant) -> None:
    # a CPU-bound process whose lease renewals fell behind: its own runs look stale
    mine = [_stale_run(tenant, session_id=None, age=60) for _ in range(2)]
    dead = _stale_run(tenant, session_id=None, age=60)
    assert executions_recover_stale(alive={run.id for run in mine}) == 1
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.error == "interrupted"
    for run in mine:
        run.refresh_from_db()
        assert run.status == "running" and run.heartbeat_at is not None
        assert run.heartbeat_at > timezone.now() - timedelta(seconds=5)  # renewed
        assert log.read(run.id)[-1]["type"] == "content"  # no terminal event logged


async def test_the_runner_sweep_names_its_live_runs(tenant: Tenant) -> None:
    from types import SimpleNamespace

    from asgiref.sync import sync_to_async

    from executions import runner

    mine = await sync_to_async(_stale_run)(tenant, session_id=None, age=60)
    dead = await sync_to_async(_stale_run)(tenant, session_id=None, age=60)
    alive: Any = [SimpleNamespace(spec=SimpleNamespace(execution_id=mine.id))]
    await runner._sweep(alive)
    await mine.arefresh_from_db()
    await dead.arefresh_from_db()
    assert (mine.status, dead.status) == ("running", "failed")


def test_one_heartbeat_renews_every_run_and_session_lease_in_two_statements(
        tenant: Tenant) -> None:
    """The housekeeping's renewal: all its runs' execution leases and their sessions' turn
    locks, one UPDATE each (1,000 streams were 1,001 statements); a session held by an
    execution of another process is not touched."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.services import turn_leases_renew
    from executions import runner
    from executions.types import TurnSpec

    sessions = [_session(tenant) for _ in range(3)]
    ours = [_stale_run(tenant, session_id=s.id, holds=s, age=40) for s in sessions[:2]]
    theirs = _stale_run(tenant, session_id=sessions[2].id, holds=sessions[2], age=40)
    runs = [runner.LocalRun(spec=TurnSpec(execution_id=e.id, run=None,  # type: ignore[arg-type]
                                          on_heartbeat=turn_leases_renew)) for e in ours]
    before = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        runner._beat(runs, True)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 2
    for session, execution in zip(sessions[:2], ours, strict=True):
        session.refresh_from_db()
        execution.refresh_from_db()
        assert session.turn_lease_until is not None and session.turn_lease_until > before
        assert execution.heartbeat_at is not None and execution.heartbeat_at >= before
    sessions[2].refresh_from_db()
    theirs.refresh_from_db()
    assert sessions[2].turn_lease_until is not None and sessions[2].turn_lease_until < before
    assert theirs.heartbeat_at is not None and theirs.heartbeat_at < before
