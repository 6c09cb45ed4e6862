"""A browser turn on a live server (uvicorn): the same SSE events as the chat stream, page
context as the template variable `context`, history, feedback, and a revoked key ending
an open stream while the turn runs on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from agents.models import Agent
from agents.services import agent_create, agent_version_create, prompt_create
from chat.models import Feedback, Message
from executions.models import Execution
from promptrails.models import ApiKey
from promptrails.services import api_key_revoke
from tests.browser.support import ORIGIN, BrowserKey, make_browser_key
from tests.helpers import assert_error
from tests.support.wait import wait_for


class LivePage:
    """A page on ORIGIN speaking to the live server as the official runtime does."""

    def __init__(self, url: str, key: BrowserKey) -> None:
        self.api = f"{url}/api/v1"
        self.key = key
        self.http = httpx.Client(timeout=30)
        token = self.http.post(f"{self.api}/browser/chat/token", json={"agent_id": key.agent_id},
                               headers={"Origin": ORIGIN, "X-API-Key": key.raw,
                                        "Accept": "application/json"})
        assert token.status_code == 200, token.text
        self.token = token.json()["data"]["access_token"]
        created = self.http.post(f"{self.api}/browser/chat/sessions", json={
            "agent_id": key.agent_id, "title": "Website chat",
            "metadata": {"channel": "browser_widget"}}, headers=self.headers())
        assert created.status_code == 201, created.text
        self.session_id = created.json()["data"]["id"]
        self.resume = created.json()["data"]["resume_token"]

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {self.token}",
                   "Accept": "application/json"}
        if getattr(self, "resume", None):
            headers["X-Chat-Resume-Token"] = self.resume
        return {**headers, **extra}

    def stream(self, content: str, **body: Any) -> Any:
        return self.http.stream(
            "POST", f"{self.api}/browser/chat/sessions/{self.session_id}/messages/stream",
            json={"content": content, "idempotency_key": f"k-{time.monotonic_ns()}", **body},
            headers=self.headers(Accept="text/event-stream"))


def frames(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    event: dict[str, Any] = {}
    for line in lines:
        if line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            event["data"] = json.loads(line[6:])
        elif line == "" and event:
            yield event
            event = {}


def test_a_streamed_turn_with_tools_history_and_feedback(browser_server: Any,
                                                         live_key: BrowserKey) -> None:
    page = LivePage(browser_server.url, live_key)
    with page.stream("what is 12*(3+4)?") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["access-control-allow-origin"] == ORIGIN
        events = list(frames(response.iter_lines()))
    names = [e["event"] for e in events]
    assert names[0] == "execution" and names[-1] == "done"
    assert "tool_start" in names and "tool_end" in names and "content" in names
    tool_end = next(e["data"] for e in events if e["event"] == "tool_end")
    assert tool_end["name"] == "calculator" and "84" in tool_end["summary"]
    execution_id = events[0]["data"]["execution_id"]
    assert "84" in events[-1]["data"]["output"]["content"]

    listed = page.http.get(
        f"{page.api}/browser/chat/sessions/{page.session_id}/messages?limit=50",
        headers=page.headers())
    assert listed.status_code == 200
    messages = listed.json()["data"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["metadata"]["execution_id"] == execution_id  # what the widget reads
    assert "84" in messages[1]["content"]
    assert "cost" not in messages[1] and "tool_results" not in messages[1]

    voted = page.http.post(f"{page.api}/browser/chat/sessions/{page.session_id}/feedback",
                           json={"execution_id": execution_id, "value": -1},
                           headers=page.headers())
    assert voted.status_code == 200 and voted.json() == {"data": {"submitted": True}}
    assert Feedback.objects.get(execution_id=execution_id).value == -1

    # an execution of another session (of the same key) is not this session's
    other = LivePage(browser_server.url, live_key)
    assert_error(other.http.post(f"{other.api}/browser/chat/sessions/{other.session_id}"
                                 "/feedback", json={"execution_id": execution_id, "value": 1},
                                 headers=other.headers()), 404, "not_found")


def test_page_context_reaches_the_template_apart_from_the_message(
        browser_server: Any, transactional_db: None) -> None:
    key = make_browser_key("Context")
    workspace = key.tenant.workspace
    prompt = prompt_create(workspace=workspace, name="With context", initial_version={
        "system_prompt": "You help shoppers.",
        "user_prompt": "{{ message }} [page {{ context.path | default('none') }}]"})
    agent = agent_create(workspace=workspace, name="Shop helper")
    agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                         set_current=True, model_config={"model_id": "echo"})
    ApiKey.objects.filter(pk=key.key.pk).update(allowed_agent_ids=[key.agent_id, agent.pk])
    key.agent_id = agent.pk
    page = LivePage(browser_server.url, key)
    with page.stream("is size S in stock?", client_context={"path": "/dress-1"}) as response:
        events = list(frames(response.iter_lines()))
    reply = events[-1]["data"]["output"]["content"]
    assert "[page /dress-1]" in reply
    user = Message.objects.get(session_id=page.session_id, role="user")
    assert user.content == "is size S in stock?"  # the visible text only
    assert user.metadata == {"client_context": {"path": "/dress-1"}}
    assert Execution.objects.get(pk=user.execution_id).input == {
        "message": "is size S in stock?", "context": {"path": "/dress-1"}}
    # a bad context is a 400 before anything is stored
    with page.stream("again", client_context=["not", "an", "object"]) as response:
        assert response.status_code == 400
    assert Message.objects.filter(session_id=page.session_id).count() == 2
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_revoking_the_key_ends_its_open_stream_and_the_turn_runs_on(
        browser_server: Any, live_key: BrowserKey) -> None:
    page = LivePage(browser_server.url, live_key)
    long = " ".join(f"word{i}" for i in range(60))  # echoed up to word29: ~1.4 s
    seen: list[str] = []
    with page.stream(long) as response:
        lines = response.iter_lines()
        for event in frames(lines):
            seen.append(event["event"])
            if event["event"] == "content":
                api_key_revoke(keys=ApiKey.objects.filter(pk=live_key.key.pk))
                break
        seen += [event["event"] for event in frames(lines)]  # read to EOF
    assert "done" not in seen and "error" not in seen
    # the turn was not the page's to stop: it finishes and its reply is stored
    execution = Execution.objects.get(session_id=page.session_id)

    def completed() -> bool:
        execution.refresh_from_db()
        return execution.status == "completed"

    wait_for(completed, 30, 0.1, what="the turn to complete")
    assert execution.status == "completed"
    assert "word29" in Message.objects.get(session_id=page.session_id,
                                            role="assistant").content
    # and the bearer is dead
    assert_error(page.http.get(f"{page.api}/browser/chat/sessions/{page.session_id}/messages",
                               headers=page.headers()), 401, "unauthorized")
