"""`POST /agents/{id}/execute`: a one-off agent run through the same runner as chat turns."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import transaction

from agents.models import Agent
from agents.preparation import prepare_agent, render_prompts
from executions.services import execution_create
from executions.types import Started, TurnSpec
from promptrails.errors import InvalidInput, NotFound
from promptrails.models import Workspace
from promptrails.tenancy import scoped_get

ID_LENGTH = 27  # every id of this API is a KSUID: 27 base62 characters

# Whether a workspace has a session of this id. Sessions belong to the chat app (which
# depends on this one, not the other way round): it registers the lookup.
SessionLookup = Callable[..., bool]  # (*, workspace: Workspace, session_id: str) -> bool
_session_lookups: list[SessionLookup] = []


def register_session_lookup(lookup: SessionLookup) -> None:
    if lookup not in _session_lookups:
        _session_lookups.append(lookup)


def _session_of(workspace: Workspace, session_id: str) -> bool:
    """True if `session_id` names a session of the workspace (an id of another workspace,
    or anything that cannot be an id, names none: a 404 like any unknown id)."""
    if not (0 < len(session_id) <= ID_LENGTH and session_id.isascii() and session_id.isalnum()):
        return False
    return any(lookup(workspace=workspace, session_id=session_id) for lookup in _session_lookups)


def _message_of(payload: dict[str, Any]) -> str:
    for key in ("message", "input", "query", "prompt", "text"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    return json.dumps(payload, ensure_ascii=False)


def agent_execute_start(
    *, workspace: Workspace, agent_id: str, body: dict[str, Any], user_id: int | None
) -> Started:
    """Validate the request, create the execution and describe its run (started by
    executions.runner.start_turn)."""
    agent = scoped_get(Agent.objects.all(), workspace, agent_id, "agent")
    payload = body.get("input", {})
    if not isinstance(payload, dict):
        raise InvalidInput({"input": ["Must be a JSON object (the prompt's variables)."]})
    version_id = body.get("version_id")
    if version_id is not None and not isinstance(version_id, str):
        raise InvalidInput({"version_id": ["Must be a string."]})
    session_id = body.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise InvalidInput({"session_id": ["Must be a string."]})
    if session_id and not _session_of(workspace, session_id):
        raise NotFound("chat session")
    prepared = prepare_agent(workspace=workspace, agent=agent, version_id=version_id)
    variables = {"message": _message_of(payload), "input": payload, **payload}
    system, user_text = render_prompts(prepared, variables=variables)
    with transaction.atomic():
        execution = execution_create(
            workspace=workspace, agent_id=agent.id, agent_name=agent.name,
            agent_version_id=prepared.version_id, input=payload, session_id=session_id or None,
            user_id=user_id, model=prepared.model.model_id,
        )
    run = prepared.agent_run(system=system, user_message=user_text)
    spec = TurnSpec(execution_id=execution.id, run=run,
                    approval_timeout_seconds=prepared.approval_timeout_seconds,
                    approval_on_timeout=prepared.approval_on_timeout,
                    first_event={"type": "execution", "execution_id": execution.id},
                    execution=execution)
    return Started(execution_id=execution.id, spec=spec)
