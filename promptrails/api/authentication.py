"""DRF authentication: X-API-Key, or a Django session of a workspace member."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from promptrails.tenancy import (
    AuthFailed,
    WorkspaceAuth,
    workspace_from_api_key,
    workspace_from_user,
)


class ApiKeyPrincipal:
    """The request.user of an API-key request: authenticated, not a Django user."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, auth: WorkspaceAuth) -> None:
        self.auth = auth

    def __str__(self) -> str:
        return f"api-key:{self.auth.api_key.prefix if self.auth.api_key else '?'}"


class ApiKeyAuthentication(BaseAuthentication):
    header = "HTTP_X_API_KEY"

    def authenticate(self, request: Request) -> tuple[Any, WorkspaceAuth] | None:
        raw = request.META.get(self.header)
        if raw is None:
            return None
        try:
            auth = workspace_from_api_key(raw.strip())
        except AuthFailed as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return ApiKeyPrincipal(auth), auth

    def authenticate_header(self, request: Request) -> str:
        return "X-API-Key"


class WorkspaceSessionAuthentication(SessionAuthentication):
    """Session auth (CSRF enforced) that resolves the workspace from membership."""

    def authenticate(self, request: Request) -> tuple[Any, WorkspaceAuth] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        try:
            auth = workspace_from_user(user, request.META.get("HTTP_X_WORKSPACE_ID"))
        except AuthFailed as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        return user, auth
