from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from promptrails.tenancy import WorkspaceAuth


class HasWorkspace(BasePermission):
    """The request authenticated to exactly one workspace."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, WorkspaceAuth)
