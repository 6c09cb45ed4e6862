"""The end of a run: the execution, its spans, the reply and the log's last events, in one
transaction; when that transaction fails the run ends failed with the reason instead (the
log and the bus carry that end, the session is freed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError

from executions import log, runner
from executions.models import Execution, Span
from promptrails.db import run_db
from tests.executions.test_abandon import _session

pytestmark = pytest.mark.django_db(transaction=True)


async def _turn(content: str = "hello there") -> tuple[str, runner.LocalRun]:
    from chat import services as chat_services

    workspace, session_id = await sync_to_async(_session)()
    turn = await run_db(chat_services.turn_start, workspace=workspace, session_id=session_id,
                        content=content)
    assert turn.spec is not None
    return turn.execution_id, runner.start(turn.spec)


def _logged(execution_id: str) -> list[log.Event]:
    return log.read(execution_id)


def _replies(execution_id: str) -> int:
    from chat.models import Message

    return Message.objects.filter(execution_id=execution_id, role="assistant").count()


async def test_the_end_is_stored_with_the_terminal_event_and_the_created_rows_trace() -> None:
    execution_id, local = await _turn("hello there")
    await asyncio.wait_for(local.done.wait(), 10)

    events = await run_db(_logged, execution_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "done" and events[-1] == local.events[-1]
    assert await run_db(_replies, execution_id) == 1
    execution = await run_db(Execution.objects.get, pk=execution_id)
    assert execution.status == "completed"
    # the spans were built from the row as created, not read again
    root = await run_db(lambda: Span.objects.get(execution_id=execution_id, kind="agent"))
    assert root.trace_id == execution.trace_id and root.workspace_id == execution.workspace_id
    assert root.session_id == execution.session_id and root.name == execution.agent_name
    assert root.input == {"message": "hello there"}


async def test_an_end_that_cannot_be_stored_ends_the_run_failed_and_frees_its_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    append = log.append
    refused: list[int] = []

    def refused_once(execution_id: str, events: list[log.Event]) -> None:
        if not refused and any(e["type"] in log.TERMINAL_TYPES for e in events):
            refused.append(events[-1]["seq"])
            raise IntegrityError("refused (as if the database would not take it)")
        append(execution_id, events)

    monkeypatch.setattr(log, "append", refused_once)
    published: list[dict[str, Any]] = []
    real_publish = runner.bus.publish

    async def publish(group: str, event: dict[str, Any]) -> None:
        published.append(event)
        await real_publish(group, event)

    monkeypatch.setattr(runner.bus, "publish", publish)
    execution_id, local = await _turn("hello again")
    await asyncio.wait_for(local.done.wait(), 10)

    assert refused  # the end's transaction was refused…
    # …so the run ended failed with the reason, at once (not when its lease runs out): the
    # partial reply is stored, marked incomplete, and the session is free
    execution = await run_db(Execution.objects.get, pk=execution_id)
    assert execution.status == "failed"
    assert execution.error == "could not store the end of the run (IntegrityError)"
    assert execution.output is not None and execution.output["incomplete"] is True
    assert await run_db(_replies, execution_id) == 1
    assert await run_db(_session_free, execution_id)
    # the log and the bus carry that end, in the place of the refused one
    events = await run_db(_logged, execution_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "error" and events[-1]["seq"] == refused[0]
    assert events[-1]["message"] == execution.error
    assert published[-1] == events[-1] == local.events[-1]


def _session_free(execution_id: str) -> bool:
    from chat.models import Session

    session_id = Execution.objects.get(pk=execution_id).session_id
    return Session.objects.get(pk=session_id).turn_execution_id is None
