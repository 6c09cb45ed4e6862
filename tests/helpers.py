"""Shared test helpers: tenants with API keys, the error-envelope check, the isolation check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.test import APIClient

from promptrails.models import Workspace
from promptrails.services import api_key_create, workspace_get_or_create


@dataclass
class Tenant:
    workspace: Workspace
    raw_key: str
    client: APIClient


def make_tenant(name: str) -> Tenant:
    workspace, _ = workspace_get_or_create(name=name)
    _, raw = api_key_create(workspace=workspace, name="test")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return Tenant(workspace=workspace, raw_key=raw, client=client)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error envelope with this status and code."""
    assert response.status_code == status, (response.status_code, _body(response))
    body = _body(response)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["details"], dict), body
    return error


def assert_isolated(client: APIClient, method: str, path: str, body: Any = None) -> None:
    """Another workspace's object is invisible: a 404 envelope, nothing else."""
    response = getattr(client, method.lower())(path, body, format="json")
    assert_error(response, 404, "not_found")


def _body(response: Any) -> Any:
    import json

    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return response.content
