"""What every API view needs: the request's workspace and the `{"data": ...}` envelope."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from promptrails.models import Workspace
from promptrails.tenancy import WorkspaceAuth


def request_workspace(request: Request) -> Workspace:
    auth = request.auth
    assert isinstance(auth, WorkspaceAuth)
    return auth.workspace


def data(payload: Any, status_code: int = status.HTTP_200_OK, **kwargs: Any) -> Response:
    return Response({"data": payload}, status=status_code, **kwargs)
