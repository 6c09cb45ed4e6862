"""Chat objects on the wire (docs/api.md §2–3)."""

from __future__ import annotations

from typing import Any

from chat.models import Feedback, Message, Session, Summary
from promptrails.api.formats import iso


def session_data(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "workspace_id": session.workspace_id,
        "agent_id": session.agent_id,
        "user_id": session.user_id,
        "title": session.title,
        "metadata": session.metadata,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "summary": summary_data(session.summary) if session.summary_id else None,
    }


def summary_data(summary: Summary | None) -> dict[str, Any] | None:
    """The session's current rolling summary (context strategy "summary")."""
    if summary is None:
        return None
    return {
        "id": summary.id,
        "content": summary.content,
        "covers_until_message_id": summary.covers_until_message_id,
        "messages_folded": summary.messages_folded,
        "created_at": iso(summary.created_at),
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "session_id": message.session_id,
        "role": message.role,
        "content": message.content,
        "metadata": message.metadata,
        "tool_calls": message.tool_calls,
        "tool_results": message.tool_results,
        "model": message.model or None,
        "cost": float(message.cost or 0),
        "token_count": message.token_count,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "execution_id": message.execution_id,
        "created_at": iso(message.created_at),
    }


def feedback_data(feedback: Feedback) -> dict[str, Any]:
    return {
        "execution_id": feedback.execution_id,
        "value": feedback.value,
        "created_at": iso(feedback.created_at),
        "updated_at": iso(feedback.updated_at),
    }


def send_data(user_message: Message, assistant: Message | None) -> dict[str, Any]:
    """The hybrid 201 body: the reply's fields at the top, plus both messages."""
    user = message_data(user_message)
    reply = message_data(assistant) if assistant is not None else None
    top = dict(reply) if reply is not None else {**user, "id": None, "role": "assistant",
                                                   "content": ""}
    top.update({"execution_id": user_message.execution_id, "user_message": user,
                "assistant_message": reply})
    return top
