"""Rolling summaries: a long conversation on a small window sends the summary plus the
newest messages; each fold reads only the messages new since the last summary; a failing
summarizer never fails a turn. Turns run on the real runner against the fake OpenAI server
(or the offline model), with the real database."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents.models import LLMModel
from agents.runtime.context_window import estimate_tokens
from agents.runtime.summarize import NEW_HEADER, PREVIOUS_HEADER, SUMMARIZER_MARKER
from agents.services import demo_agent_ensure
from chat import services as chat_services
from chat import summaries
from chat.models import Message, Session, Summary
from executions import bus, runner
from executions.models import Execution, Span
from promptrails.db import run_db
from tests.chat.support import fake_openai_agent
from tests.fakes.server import FakeReply
from tests.helpers import make_tenant
from tests.support.live import ensure_local_model
from tests.support.wait import wait_for_async

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 2000
FILLER = " ".join(f"w{i}" for i in range(24))
NUMBER = re.compile(r"message (\d+):")


def _setup(base_url: str) -> tuple[Any, str]:
    tenant = make_tenant("Summaries")
    agent = fake_openai_agent(workspace=tenant.workspace, base_url=base_url)
    LLMModel.objects.filter(model_id="fake-gpt").update(max_tokens=WINDOW,
                                                        max_output_tokens=200)
    version = agent.versions.get(is_current=True)
    assert version.config["context"] == {"strategy": "summary"}  # the new default
    session = chat_services.session_create(workspace=tenant.workspace, agent_id=agent.id,
                                           title="", metadata={}, user_id=None)
    return tenant.workspace, session.id


async def _turn(workspace: Any, session_id: str, content: str) -> runner.LocalRun:
    turn = await run_db(chat_services.turn_start, workspace=workspace, session_id=session_id,
                        content=content)
    assert turn.spec is not None
    local = runner.start(turn.spec)
    await asyncio.wait_for(local.done.wait(), 30)
    await summaries.wait_idle()
    return local


def _is_summarizer(body: Any) -> bool:
    system = (body.get("messages") or [{}])[0]
    return system.get("role") == "system" and str(system.get("content", "")).startswith(
        SUMMARIZER_MARKER)


def _script(fake: Any, fail_summarizer: bool = False) -> list[int]:
    """The fake answers chat requests with a short reply and summarizer requests with a
    short summary naming the folded message numbers; returns the calls' counter."""
    calls = [0]

    def next_reply(body: Any) -> FakeReply:
        if _is_summarizer(body):
            calls[0] += 1
            if fail_summarizer:
                return FakeReply(fault="http_400")
            numbers = NUMBER.findall(body["messages"][-1]["content"].partition(NEW_HEADER)[2])
            return FakeReply(text=f"S{calls[0]} folded {numbers[0]}-{numbers[-1]}.")
        return FakeReply(text="Noted, thank you.")

    fake.next_reply = next_reply
    return calls


async def test_a_300_turn_conversation_sends_the_summary_and_the_newest_messages(
        fake_openai: Any) -> None:
    calls = _script(fake_openai)
    workspace, session_id = await sync_to_async(_setup)(fake_openai.base_url)
    events: list[dict[str, Any]] = []

    subscribed = asyncio.Event()

    async def watch() -> None:
        async with bus.subscribe(bus.session_group(session_id)) as sub:
            subscribed.set()
            while True:
                payload = await sub.get()
                if payload and payload.get("type") == "context_compacted":
                    events.append(payload)

    watcher = asyncio.get_running_loop().create_task(watch())
    await wait_for_async(subscribed.is_set, 10, what="the watcher to subscribe")
    try:
        for i in range(300):
            local = await _turn(workspace, session_id, f"message {i}: {FILLER}")
            assert local.finished is not None and local.finished.status == "completed"
    finally:
        watcher.cancel()

    requests = [r.json for r in fake_openai.chat_requests()]
    folds = [r for r in requests if _is_summarizer(r)]
    chats = [r for r in requests if not _is_summarizer(r)]
    assert len(chats) == 300
    assert 5 <= len(folds) == calls[0] <= 60  # a fold keeps half a window: not every turn

    # incremental: each fold reads the last summary and only the messages after it
    seen: set[int] = set()
    previous = "(none)"
    for n, fold in enumerate(folds, start=1):
        text = fold["messages"][-1]["content"]
        assert text.startswith(f"{PREVIOUS_HEADER}\n{previous}\n\n{NEW_HEADER}\n")
        numbers = [int(x) for x in NUMBER.findall(text.partition(NEW_HEADER)[2])]
        assert numbers and numbers == sorted(numbers) and not seen & set(numbers)
        assert min(numbers) == (max(seen) + 1 if seen else 0)
        seen |= set(numbers)
        previous = f"S{n} folded {numbers[0]}-{numbers[-1]}."

    # later turns: system prompt + summary, then the newest messages after what it covers
    last = chats[-1]["messages"]
    assert last[0]["role"] == "system" and previous in last[0]["content"]
    sent = [int(n) for m in last[1:] if m["role"] == "user"
            for n in NUMBER.findall(m["content"])]
    assert sent[0] == max(seen) + 1 and sent == list(range(sent[0], 300))
    assert NUMBER.findall(last[-1]["content"]) == ["299"]
    # bounded prompts: the estimate never passes the window, early or late
    sizes = [sum(estimate_tokens(m["content"]) + 4 for m in r["messages"]) for r in chats]
    assert max(sizes) <= WINDOW - 200 and max(sizes[-100:]) <= max(sizes[:100]) + 300

    def stored() -> tuple[Session, list[Span], int]:
        session = Session.objects.select_related("summary").get(pk=session_id)
        spans = list(Span.objects.filter(session_id=session_id, kind="summary"))
        return session, spans, Summary.objects.filter(session_id=session_id).count()

    session, spans, kept = await run_db(stored)
    assert session.summary is not None and session.summary.content == previous
    assert kept <= 2  # the current one and the one it replaced
    assert len(spans) == len(folds) and all(s.status == "ok" for s in spans)
    assert all(s.prompt_tokens > 0 and s.cost > 0 for s in spans)
    message_tokens = await run_db(lambda: sum(
        Message.objects.filter(session_id=session_id).values_list("token_count", flat=True)))
    assert session.total_tokens == message_tokens + sum(s.total_tokens for s in spans)
    assert [e["summary_id"] for e in events][-1] == session.summary.id
    assert events[-1]["covers_until_message_id"] == session.summary.covers_until_message_id


async def test_a_failing_summarizer_never_fails_the_turn(fake_openai: Any) -> None:
    calls = _script(fake_openai, fail_summarizer=True)
    workspace, session_id = await sync_to_async(_setup)(fake_openai.base_url)
    for i in range(40):
        local = await _turn(workspace, session_id, f"message {i}: {FILLER} {FILLER} {FILLER}")
        assert local.finished is not None and local.finished.status == "completed"
    assert calls[0] > 0

    def stored() -> tuple[Session, list[Span], int]:
        return (Session.objects.get(pk=session_id),
                list(Span.objects.filter(session_id=session_id, kind="summary")),
                Execution.objects.filter(session_id=session_id, status="completed").count())

    session, spans, completed = await run_db(stored)
    assert completed == 40 and session.summary_id is None
    assert spans and all(s.status == "error" and "summarizer failed" in (s.error or "")
                         for s in spans)
    # the turns fell back to the window: the newest messages, no summary
    last = [r.json for r in fake_openai.chat_requests() if not _is_summarizer(r.json)][-1]
    assert "Summary of the earlier conversation" not in last["messages"][0]["content"]
    assert NUMBER.findall(last["messages"][-1]["content"]) == ["39"]


def _local_setup() -> tuple[Any, str]:
    ensure_local_model()
    LLMModel.objects.filter(provider="local").update(max_tokens=4000, max_output_tokens=100)
    tenant = make_tenant("Offline summaries")
    agent = demo_agent_ensure(workspace=tenant.workspace)
    version = agent.versions.get(is_current=True)
    version.config = {**version.config, "context": {"strategy": "summary"}}
    version.save(update_fields=["config"])
    tenant.workspace.config_revision += 1
    tenant.workspace.save(update_fields=["config_revision"])
    session = chat_services.session_create(workspace=tenant.workspace, agent_id=agent.id,
                                           title="", metadata={}, user_id=None)
    return tenant.workspace, session.id


async def test_the_offline_model_summarizes_extractively() -> None:
    workspace, session_id = await sync_to_async(_local_setup)()
    await _turn(workspace, session_id, "My name is Ada Lovelace and I need help.")
    for i in range(25):
        await _turn(workspace, session_id, f"message {i}: {FILLER} {FILLER} {FILLER}")
    session = await run_db(Session.objects.select_related("summary").get, pk=session_id)
    assert session.summary is not None
    lines = session.summary.content.split("\n")
    assert lines[0] == '- The user said: "My name is Ada Lovelace and I need help."'
    assert all(line.startswith('- The user said: "') for line in lines)
