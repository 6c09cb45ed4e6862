"""Messages (docs/api.md §3): history paging and cursors, send validation, the hybrid 201 body,
feedback, last activity. Sends run in-process (the async view on the test client)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from agents.models import Agent
from agents.services import demo_agent_ensure
from chat.models import Feedback, Message, Session
from executions.models import Execution
from executions.services import execution_create
from tests.helpers import Tenant, assert_error, assert_isolated
from tests.support.live import ensure_local_model

BASE = "/api/v1/chat/sessions"


@pytest.fixture
def agent(tenant: Tenant) -> Agent:
    ensure_local_model()
    return demo_agent_ensure(workspace=tenant.workspace)


@pytest.fixture
def session(tenant: Tenant, agent: Agent) -> Session:
    return Session.objects.create(workspace=tenant.workspace, agent=agent, title="t")


def send(tenant: Tenant, session_id: str, body: Any) -> Any:
    return tenant.client.post(f"{BASE}/{session_id}/messages", body, format="json")


def history(tenant: Tenant, session_id: str, query: str = "") -> dict[str, Any]:
    response = tenant.client.get(f"{BASE}/{session_id}/messages{query}")
    assert response.status_code == 200, response.content
    return response.json()


def contents(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["data"]]


def seed(session: Session, n: int) -> list[Message]:
    return [Message.objects.create(session=session, role="user" if i % 2 == 0 else "assistant",
                                   content=f"m{i}") for i in range(n)]


# -- history ------------------------------------------------------------------------


def test_messages_are_oldest_first_with_paging(tenant: Tenant, session: Session) -> None:
    seed(session, 25)
    body = history(tenant, session.id)
    assert contents(body) == [f"m{i}" for i in range(20)]
    assert body["meta"] == {"total": 25, "page": 1, "limit": 20, "pages": 2, "total_pages": 2}
    assert contents(history(tenant, session.id, "?page=2")) == [f"m{i}" for i in range(20, 25)]
    assert contents(history(tenant, session.id, "?limit=10&page=3")) == [
        f"m{i}" for i in range(20, 25)]
    first = body["data"][0]
    assert set(first) == {"id", "session_id", "role", "content", "metadata", "tool_calls",
                          "tool_results", "model", "cost", "token_count", "prompt_tokens",
                          "completion_tokens", "execution_id", "created_at"}
    assert first["cost"] == 0.0 and isinstance(first["cost"], float)
    for bad in ("?limit=0", "?limit=101", "?page=-1", "?page=abc"):
        assert_error(tenant.client.get(f"{BASE}/{session.id}/messages{bad}"), 400,
                     "validation_error")


def test_message_cursors(tenant: Tenant, session: Session) -> None:
    messages = seed(session, 12)
    body = history(tenant, session.id, f"?after={messages[3].id}&limit=5")
    assert contents(body) == [f"m{i}" for i in range(4, 9)]
    assert body["meta"]["has_more"] is True and body["meta"]["total"] == 12
    body = history(tenant, session.id, f"?after={messages[8].id}&limit=5")
    assert contents(body) == ["m9", "m10", "m11"] and body["meta"]["has_more"] is False
    assert history(tenant, session.id, f"?after={messages[11].id}")["data"] == []
    body = history(tenant, session.id, f"?before={messages[8].id}&limit=3")
    assert contents(body) == ["m5", "m6", "m7"] and body["meta"]["has_more"] is True
    body = history(tenant, session.id, f"?before={messages[2].id}&limit=5")
    assert contents(body) == ["m0", "m1"] and body["meta"]["has_more"] is False
    assert_error(tenant.client.get(
        f"{BASE}/{session.id}/messages?after={messages[1].id}&before={messages[5].id}"),
        400, "validation_error")
    assert_error(tenant.client.get(f"{BASE}/{session.id}/messages?after=unknown"), 404,
                 "not_found")


def test_cursor_from_another_session_or_workspace_is_404(
    tenant: Tenant, other_tenant: Tenant, session: Session, agent: Agent
) -> None:
    seed(session, 2)
    mine_other = Session.objects.create(workspace=tenant.workspace, agent=agent)
    foreign_in_mine = seed(mine_other, 1)[0]
    theirs = Session.objects.create(workspace=other_tenant.workspace,
                                    agent=demo_agent_ensure(workspace=other_tenant.workspace))
    foreign = seed(theirs, 1)[0]
    for cursor in (foreign_in_mine.id, foreign.id):
        for name in ("after", "before"):
            assert_error(tenant.client.get(f"{BASE}/{session.id}/messages?{name}={cursor}"),
                         404, "not_found")
    assert_isolated(tenant.client, "GET", f"{BASE}/{theirs.id}/messages?before={foreign.id}")


# -- send ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {}, {"content": ""}, {"content": "   \n\t "}, {"content": 42}, {"content": ["hi"]},
    {"content": None}, {"content": {"text": "hi"}}, {"content": "x" * 100_001},
])
def test_send_rejects_bad_content(tenant: Tenant, session: Session, transactional_db: None,
                                  body: Any) -> None:
    error = assert_error(send(tenant, session.id, body), 400, "validation_error")
    assert "content" in error["details"]
    assert not Message.objects.exists() and not Execution.objects.exists()
    session.refresh_from_db()
    assert session.turn_execution_id is None


def test_send_rejects_malformed_and_non_object_bodies(tenant: Tenant, session: Session,
                                                      transactional_db: None) -> None:
    path = f"{BASE}/{session.id}/messages"
    for raw in ('{"content": ', '["hi"]', '"hi"'):
        response = tenant.client.post(path, data=raw, content_type="application/json")
        assert_error(response, 400, "validation_error")
    assert_error(tenant.client.post(path, content_type="application/json"), 400,
                 "validation_error")
    assert not Message.objects.exists()


@pytest.mark.parametrize("suffix", ["", "/stream"])
def test_send_without_valid_credentials_is_401_whatever_the_body(
        session: Session, transactional_db: None, suffix: str) -> None:
    # the body is read before authentication; its errors are for authenticated callers only
    from rest_framework.test import APIClient

    path = f"{BASE}/{session.id}/messages{suffix}"
    no_key: dict[str, Any] = {}
    for headers in (no_key, {"HTTP_X_API_KEY": "pr_not_a_key"}):
        client = APIClient()
        for raw in ('{"content": ', '{"content": 42}', '{"content": "hi"}'):
            response = client.post(path, data=raw, content_type="application/json",
                                   HTTP_IDEMPOTENCY_KEY="x" * 300, **headers)
            assert_error(response, 401, "unauthorized")
    assert not Message.objects.exists() and not Execution.objects.exists()


def test_send_to_unknown_or_foreign_session_is_404(tenant: Tenant, other_tenant: Tenant,
                                                   transactional_db: None) -> None:
    ensure_local_model()
    assert_error(send(tenant, "no-such-session", {"content": "hi"}), 404, "not_found")
    theirs = Session.objects.create(workspace=other_tenant.workspace,
                                    agent=demo_agent_ensure(workspace=other_tenant.workspace))
    assert_isolated(tenant.client, "POST", f"{BASE}/{theirs.id}/messages", {"content": "hi"})
    assert_isolated(tenant.client, "POST", f"{BASE}/{theirs.id}/messages/stream",
                    {"content": "hi"})
    assert not Message.objects.exists() and not Execution.objects.exists()


def test_send_accepts_content_at_the_limit(tenant: Tenant, session: Session,
                                           transactional_db: None) -> None:
    response = send(tenant, session.id, {"content": "y" * 100_000})
    assert response.status_code == 201, response.content
    assert Message.objects.get(role="user").content == "y" * 100_000


def test_send_returns_the_hybrid_201_body(tenant: Tenant, session: Session,
                                          transactional_db: None) -> None:
    response = send(tenant, session.id, {"content": "hello there"})
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    user, reply = data["user_message"], data["assistant_message"]
    assert user["role"] == "user" and user["content"] == "hello there"
    assert reply["role"] == "assistant" and reply["content"] == 'Turn 1. You said: "hello there"'
    for key, value in reply.items():
        assert data[key] == value, key
    assert data["execution_id"] == user["execution_id"] == reply["execution_id"]
    assert user["session_id"] == reply["session_id"] == session.id
    assert reply["token_count"] > 0 and isinstance(reply["cost"], float)
    stored = history(tenant, session.id)["data"]
    assert [m["id"] for m in stored] == [user["id"], reply["id"]]
    execution = Execution.objects.get(pk=data["execution_id"])
    assert execution.status == "completed" and execution.session_id == session.id
    assert execution.input == {"message": "hello there"}
    session.refresh_from_db()
    assert session.turn_execution_id is None and session.turn_lease_until is None


def test_history_reaches_the_model_and_tools_are_stored(tenant: Tenant, session: Session,
                                                        transactional_db: None) -> None:
    first = send(tenant, session.id, {"content": "remember the word kiwi"}).json()["data"]
    second = send(tenant, session.id, {"content": "what is 6*7?"}).json()["data"]
    assert first["content"].startswith("Turn 1.")
    assert second["content"].startswith('Turn 2. Earlier you said: "remember the word kiwi"')
    assert "42" in second["content"]
    assert second["tool_calls"][0]["name"] == "calculator"
    assert second["tool_results"][0]["result"] == "42"
    assert [m["role"] for m in history(tenant, session.id)["data"]] == [
        "user", "assistant", "user", "assistant"]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_updated_at_moves_on_every_message(tenant: Tenant, session: Session,
                                           transactional_db: None) -> None:
    path = f"{BASE}/{session.id}"
    seen = [_ts(tenant.client.get(path).json()["data"]["updated_at"])]
    for text in ("one", "two"):
        assert send(tenant, session.id, {"content": text}).status_code == 201
        seen.append(_ts(tenant.client.get(path).json()["data"]["updated_at"]))
    assert seen[0] < seen[1] < seen[2]
    last_message = Message.objects.filter(session=session).order_by("-id").first()
    assert last_message is not None and seen[2] >= last_message.created_at
    # last activity drives the default order of the session list
    other = Session.objects.create(workspace=tenant.workspace, agent=session.agent)
    listed = tenant.client.get(BASE).json()["data"]
    assert [s["id"] for s in listed] == [other.id, session.id]
    assert send(tenant, session.id, {"content": "three"}).status_code == 201
    listed = tenant.client.get(BASE).json()["data"]
    assert [s["id"] for s in listed] == [session.id, other.id]


# -- feedback -----------------------------------------------------------------------


def _execution(tenant: Tenant, session: Session) -> Execution:
    return execution_create(workspace=tenant.workspace, agent_id=session.agent_id,
                            agent_name="a", agent_version_id=None, input={},
                            session_id=session.id)


def test_feedback_upserts(tenant: Tenant, session: Session) -> None:
    execution = _execution(tenant, session)
    path = f"{BASE}/{session.id}/feedback"
    response = tenant.client.post(path, {"execution_id": execution.id, "value": 1},
                                  format="json")
    assert response.status_code == 200 and response.json() == {"data": {"submitted": True}}
    assert Feedback.objects.get().value == 1
    response = tenant.client.post(path, {"execution_id": execution.id, "value": -1},
                                  format="json")
    assert response.status_code == 200
    assert Feedback.objects.count() == 1 and Feedback.objects.get().value == -1


@pytest.mark.parametrize("value", [0, 2, -2, "1", True, False, None, 1.5, [1]])
def test_feedback_rejects_other_values(tenant: Tenant, session: Session, value: Any) -> None:
    execution = _execution(tenant, session)
    response = tenant.client.post(f"{BASE}/{session.id}/feedback",
                                  {"execution_id": execution.id, "value": value}, format="json")
    assert "value" in assert_error(response, 400, "validation_error")["details"]
    assert not Feedback.objects.exists()


def test_feedback_needs_an_execution_of_this_session(tenant: Tenant, other_tenant: Tenant,
                                                     session: Session, agent: Agent) -> None:
    path = f"{BASE}/{session.id}/feedback"
    other_session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    elsewhere = _execution(tenant, other_session)
    theirs_session = Session.objects.create(
        workspace=other_tenant.workspace,
        agent=demo_agent_ensure(workspace=other_tenant.workspace))
    theirs = _execution(other_tenant, theirs_session)
    for execution_id in (elsewhere.id, theirs.id, "unknown"):
        response = tenant.client.post(path, {"execution_id": execution_id, "value": 1},
                                      format="json")
        assert_error(response, 404, "not_found")
    assert_error(tenant.client.post(path, {"value": 1}, format="json"), 400, "validation_error")
    assert_isolated(tenant.client, "POST", f"{BASE}/{theirs_session.id}/feedback",
                    {"execution_id": theirs.id, "value": 1})
    assert not Feedback.objects.exists()


@pytest.mark.django_db
def test_message_ids_sort_bytewise_on_every_database() -> None:
    """KSUID order is byte order: PostgreSQL's column uses the C collation for it."""
    from django.db import connection

    from chat.models import Message as MessageModel

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_name = %s AND column_name = 'id'", [MessageModel._meta.db_table])
            assert cursor.fetchone()[0] == "C"
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s < %s", ["3MnUhU", "3MnUhb"]) if connection.vendor == "sqlite" \
            else cursor.execute('SELECT %s COLLATE "C" < %s COLLATE "C"', ["3MnUhU", "3MnUhb"])
        assert cursor.fetchone()[0] in (1, True)
