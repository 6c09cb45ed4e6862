"""Admin test helpers: two workspaces with sessions, staff members, feedback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Permission, User

from agents.models import Agent
from chat.models import Feedback, Session
from chat.services import message_store
from executions.models import Execution
from promptrails.models import Membership, Workspace

ADMIN_MODELS = [
    ("chat", "session"), ("chat", "message"), ("chat", "feedback"),
    ("executions", "execution"), ("agents", "agent"), ("agents", "agentversion"),
    ("agents", "prompt"), ("agents", "credential"), ("agents", "mcptool"),
    ("agents", "llmmodel"), ("promptrails", "workspace"), ("promptrails", "membership"),
    ("promptrails", "apikey"),
]


@dataclass
class World:
    a: Workspace
    b: Workspace
    agent_a: Agent
    agent_b: Agent
    sessions: dict[str, Session] = field(default_factory=dict)


def make_session(workspace: Workspace, agent: Agent | None, title: str,
                 metadata: dict[str, Any] | None = None, messages: int = 2,
                 content: str = "hello", user_id: str | None = None) -> Session:
    session = Session.objects.create(workspace=workspace, agent=agent, title=title,
                                     metadata=metadata or {}, user_id=user_id)
    for i in range(messages):
        execution = None
        role = "user" if i % 2 == 0 else "assistant"
        if role == "assistant":
            execution = Execution.objects.create(workspace=workspace, agent=agent,
                                                 session_id=session.id, status="completed",
                                                 total_tokens=30, cost=0.5, duration_ms=1200)
        message_store(session_id=session.id, role=role, content=f"{content} {i}",
                      token_count=10 * (i + 1), cost=0.25 if role == "assistant" else 0,
                      model="m1" if role == "assistant" else "", execution=execution)
    return session


def grant_staff(username: str, workspace: Workspace | None, *, change: bool = True) -> User:
    user = User.objects.create_user(username, password="pw-123456", is_staff=True)
    actions = ["view", "change", "delete", "add"] if change else ["view"]
    perms = Permission.objects.filter(
        content_type__app_label__in={app for app, _ in ADMIN_MODELS},
        codename__in=[f"{act}_{model}" for _, model in ADMIN_MODELS for act in actions],
    )
    user.user_permissions.set(perms)
    if workspace is not None:
        Membership.objects.create(user=user, workspace=workspace)
    return user


def fb(session: Session, value: int) -> Feedback:
    message = session.messages.filter(role="assistant").first()
    assert message is not None and message.execution is not None
    return Feedback.objects.create(session=session, execution=message.execution, value=value)
