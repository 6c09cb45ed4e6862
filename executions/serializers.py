"""Execution objects on the wire (docs/api.md §5)."""

from __future__ import annotations

from typing import Any

from executions.models import Execution
from promptrails.api.formats import iso


def token_usage(execution: Execution) -> dict[str, int]:
    usage = {
        "prompt_tokens": execution.prompt_tokens,
        "completion_tokens": execution.completion_tokens,
        "total_tokens": execution.total_tokens,
    }
    if execution.cached_tokens:
        usage["cached_tokens"] = execution.cached_tokens
    if execution.reasoning_tokens:
        usage["reasoning_tokens"] = execution.reasoning_tokens
    return usage


def execution_data(execution: Execution, children: list[dict[str, Any]] | None = None,
                   ) -> dict[str, Any]:
    return {
        "id": execution.id,
        "agent_id": execution.agent_id,
        "agent_name": execution.agent_name,
        "agent_version_id": execution.agent_version_id,
        "workspace_id": execution.workspace_id,
        "user_id": str(execution.user_id) if execution.user_id is not None else None,
        "session_id": execution.session_id,
        "parent_execution_id": execution.parent_id,
        "status": execution.status,
        "input": execution.input,
        "output": execution.output,
        "error": execution.error,
        "metadata": execution.metadata,
        "model": execution.model,
        "token_usage": token_usage(execution),
        "total_tokens": execution.total_tokens,
        "cost": float(execution.cost or 0),
        "duration_ms": execution.duration_ms,
        "trace_id": execution.trace_id,
        "approval_expires_at": iso(execution.approval_expires_at),
        "children": children or [],
        "started_at": iso(execution.started_at),
        "completed_at": iso(execution.completed_at),
        "created_at": iso(execution.created_at),
        "updated_at": iso(execution.updated_at),
    }
