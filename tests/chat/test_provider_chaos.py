"""Provider chaos, end to end through a chat turn, on both providers.

Each fault mode ends as the runtime promises: retried before the first token (the turn
succeeds); after it, the turn fails with a clear error, the partial reply is stored and
marked incomplete, and the session is released (the next message works).
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import Agent, LLMModel
from agents.services import agent_create, agent_version_create, prompt_create
from chat.models import Message, Session
from executions.models import Execution
from promptrails.models import Workspace
from tests.fakes.server import FakeReply
from tests.helpers import Tenant, assert_error

PROVIDERS = ["openai", "anthropic"]
# the async send view reads through other threads' connections: data must be committed
pytestmark = pytest.mark.django_db(transaction=True)


def agent_on(kind: str, workspace: Workspace, server: Any) -> Agent:
    model_id = f"chaos-{kind}"
    LLMModel.objects.update_or_create(
        provider=kind, model_id=model_id,
        defaults={"display_name": model_id, "base_url": server.base_url if kind == "openai"
                  else server.root_url, "max_tokens": 32000, "input_price": 1.0,
                  "output_price": 2.0},
    )
    prompt = prompt_create(workspace=workspace, name=f"{kind} prompt",
                           initial_version={"system_prompt": "Be brief.", "version": "1"})
    agent = agent_create(workspace=workspace, name=f"{kind} agent")
    agent_version_create(agent=agent, config={"type": "agent", "prompt_id": prompt.pk},
                         set_current=True, model_config={"model_id": model_id})
    return agent


@pytest.fixture
def chat(request: pytest.FixtureRequest, tenant: Tenant, settings: Any) -> Any:
    kind = request.param
    server = request.getfixturevalue(f"fake_{kind}")
    settings.PROVIDER_TIMEOUT_SECONDS = 1.0  # a stall past it is a failure, quickly
    agent = agent_on(kind, tenant.workspace, server)
    session_id = tenant.client.post("/api/v1/chat/sessions", {"agent_id": agent.id},
                                    format="json").json()["data"]["id"]

    def send(content: str = "hello") -> Any:
        return tenant.client.post(f"/api/v1/chat/sessions/{session_id}/messages",
                                  {"content": content}, format="json")

    return type("Chat", (), {"server": server, "session_id": session_id, "send": send,
                             "tenant": tenant})


def assert_failed_cleanly(chat: Any, response: Any, partial: str | None) -> None:
    error = assert_error(response, 502, "upstream_error")
    execution = Execution.objects.get(pk=error["details"]["execution_id"])
    assert execution.status == "failed" and execution.error
    user = Message.objects.get(pk=error["details"]["user_message_id"])
    assert user.content == "hello" and user.role == "user"
    replies = Message.objects.filter(execution=execution, role="assistant")
    if partial is None:
        assert not replies.exists()
    else:
        reply = replies.get()
        assert reply.content.startswith(partial)
        assert reply.metadata["incomplete"] is True and reply.metadata["error"]
    assert Session.objects.get(pk=chat.session_id).turn_execution_id is None
    chat.server.enqueue(FakeReply(text="recovered fine"))
    after = chat.send("again")
    assert after.status_code == 201, after.content
    assert after.json()["data"]["content"] == "recovered fine"


@pytest.mark.parametrize("chat", PROVIDERS, indirect=True)
def test_http_500_before_first_token_is_retried(chat: Any) -> None:
    chat.server.enqueue(FakeReply(fault="http_500"), FakeReply(text="second time lucky"))
    response = chat.send()
    assert response.status_code == 201, response.content
    assert response.json()["data"]["content"] == "second time lucky"
    assert len(chat.server.chat_requests()) == 2


@pytest.mark.parametrize("chat", PROVIDERS, indirect=True)
def test_429_with_retry_after_is_retried(chat: Any) -> None:
    chat.server.enqueue(FakeReply(fault="http_429", retry_after=0.05),
                        FakeReply(text="after the wait"))
    response = chat.send()
    assert response.status_code == 201, response.content
    assert response.json()["data"]["content"] == "after the wait"
    assert len(chat.server.chat_requests()) == 2


@pytest.mark.parametrize("chat", PROVIDERS, indirect=True)
def test_malformed_chunk_after_text_fails_keeping_the_partial(chat: Any) -> None:
    chat.server.enqueue(FakeReply(text="Partial words then garbage", fault="malformed_chunk",
                                  fault_after=2))
    assert_failed_cleanly(chat, chat.send(), "Partial words")


@pytest.mark.parametrize("chat", PROVIDERS, indirect=True)
def test_connection_reset_mid_stream_fails_keeping_the_partial(chat: Any) -> None:
    chat.server.enqueue(FakeReply(text="Cut off in the middle of", fault="reset", fault_after=3))
    assert_failed_cleanly(chat, chat.send(), "Cut off in")
    assert chat.server.chat_requests()[0].completed is not None


@pytest.mark.parametrize("chat", PROVIDERS, indirect=True)
def test_stall_past_the_read_timeout_fails_keeping_the_partial(chat: Any) -> None:
    chat.server.enqueue(FakeReply(text="Slowly and then nothing", fault="stall", fault_after=2,
                                  stall_seconds=5))
    assert_failed_cleanly(chat, chat.send(), "Slowly and")


@pytest.mark.parametrize("chat", PROVIDERS, indirect=True)
def test_empty_reply_fails_with_a_clear_error(chat: Any) -> None:
    chat.server.enqueue(FakeReply(fault="empty"))
    response = chat.send()
    assert_failed_cleanly(chat, response, None)
    assert "empty" in response.json()["error"]["message"]
