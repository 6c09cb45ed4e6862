"""Execution reads."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from executions.models import Execution, ExecutionStatus
from executions.serializers import execution_data
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped

MAX_TREE_NODES = 500


def execution_list(*, workspace: Workspace, params: Any) -> QuerySet[Execution]:
    qs = scoped(Execution.objects.all(), workspace)
    for name in ("agent_id", "session_id"):
        if params.get(name):
            qs = qs.filter(**{name: params[name]})
    status = params.get("status")
    if status:
        if status not in ExecutionStatus.values:
            raise InvalidInput(
                {"status": [f"Must be one of {', '.join(ExecutionStatus.values)}."]}
            )
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def execution_get(*, workspace: Workspace, execution_id: str) -> Execution:
    execution = scoped(Execution.objects.all(), workspace).filter(pk=execution_id).first()
    if execution is None:
        raise NotFound("execution")
    return execution


def execution_tree(*, execution: Execution) -> dict[str, Any]:
    """The execution with a recursive `children` list, one query per level."""
    nodes: dict[str, dict[str, Any]] = {execution.id: execution_data(execution)}
    level = [execution.id]
    while level and len(nodes) < MAX_TREE_NODES:
        children = list(
            Execution.objects.filter(parent_id__in=level, workspace_id=execution.workspace_id)
            .order_by("created_at", "id")
        )
        level = []
        for child in children:
            if child.id in nodes:
                continue
            nodes[child.id] = execution_data(child)
            assert child.parent_id is not None
            nodes[child.parent_id]["children"].append(nodes[child.id])
            level.append(child.id)
    return nodes[execution.id]
