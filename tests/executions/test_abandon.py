"""A run that was ended elsewhere while it still ran (its lease went stale) stops quietly."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from agents.services import demo_agent_ensure
from chat import services as chat_services
from chat.models import Message, Session
from executions import runner
from executions.models import Execution
from executions.services import execution_recover
from promptrails.db import run_db
from promptrails.models import Workspace
from tests.helpers import make_tenant
from tests.support.live import ensure_local_model
from tests.support.wait import wait_for_async

pytestmark = pytest.mark.django_db(transaction=True)


def _session() -> tuple[Workspace, str]:
    ensure_local_model()
    tenant = make_tenant("Abandon")
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = chat_services.session_create(workspace=tenant.workspace, agent_id=agent.id,
                                           title="", metadata={}, user_id=None)
    return tenant.workspace, session.id


def _recover_as_if_stale(execution_id: str) -> bool:
    Execution.objects.filter(pk=execution_id).update(
        heartbeat_at=timezone.now() - timedelta(hours=1))
    return execution_recover(execution_id=execution_id)


async def test_a_run_recovered_elsewhere_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTRAILS_LOCAL_MODEL_DELAY", "0.05")
    workspace, session_id = await sync_to_async(_session)()
    turn = await run_db(chat_services.turn_start, workspace=workspace, session_id=session_id,
                        content=" ".join(f"w{i}" for i in range(60)))
    assert turn.spec is not None
    local = runner.start(turn.spec)
    from executions.models import ExecutionEvent

    logged = ExecutionEvent.objects.filter(execution_id=turn.execution_id, type="content")
    await wait_for_async(lambda: run_db(logged.exists), 15, 0.02,
                         what="some content in the durable log (what recovery can see)")
    assert await run_db(_recover_as_if_stale, turn.execution_id)
    await asyncio.wait_for(local.done.wait(), 10)  # noticed by the heartbeat poll, not run out

    execution = await run_db(Execution.objects.get, pk=turn.execution_id)
    assert execution.status == "failed" and execution.error == "interrupted"
    replies = await run_db(lambda: list(
        Message.objects.filter(execution_id=turn.execution_id, role="assistant")))
    assert len(replies) == 1 and replies[0].metadata["incomplete"] is True
    assert "w59" not in replies[0].content  # it stopped; nothing was stored after recovery
    session = await run_db(Session.objects.get, pk=session_id)
    assert session.turn_execution_id is None
