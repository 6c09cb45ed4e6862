"""Async API views (the streaming and turn routes): auth, JSON bodies, the error envelope.

These routes stay async end to end; DRF's sync stack would pin each request to a thread.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from promptrails.api.errors import problem_response
from promptrails.api.parsers import decode_json_object
from promptrails.db import run_db
from promptrails.errors import Forbidden, MethodNotAllowed, Unauthorized
from promptrails.ratelimit import enforce
from promptrails.tenancy import (
    AuthFailed,
    WorkspaceAuth,
    workspace_from_api_key,
    workspace_from_user,
)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

AsyncView = Callable[..., Awaitable[HttpResponseBase]]
T = TypeVar("T")


def _csrf_failure(request: HttpRequest) -> bool:
    checker = CsrfViewMiddleware(lambda r: None)  # type: ignore[arg-type, return-value]
    checker.process_request(request)
    return checker.process_view(request, None, (), {}) is not None  # type: ignore[arg-type]


def _key_auth(raw: str) -> WorkspaceAuth:
    auth = workspace_from_api_key(raw)
    enforce(auth)
    return auth


def _user_auth(user: Any, workspace_id: str | None) -> WorkspaceAuth:
    auth = workspace_from_user(user, workspace_id)
    enforce(auth)
    return auth


def _then(resolve: Callable[[], WorkspaceAuth], work: Callable[[WorkspaceAuth], T],
          status: int) -> T:
    try:
        auth = resolve()
    except AuthFailed as exc:
        raise (Unauthorized if status == 401 else Forbidden)(str(exc)) from None
    return work(auth)


async def authenticated(request: HttpRequest, work: Callable[[WorkspaceAuth], T]) -> T:
    """Authenticate the request (API key or session; rate limits counted) and run `work`
    with the result, in one trip to the database thread."""
    raw = request.headers.get("X-API-Key")
    if raw is not None:
        key = raw.strip()
        return await run_db(_then, lambda: _key_auth(key), work, 401)
    user = await request.auser()
    if user.is_authenticated:
        if request.method not in SAFE_METHODS and _csrf_failure(request):
            raise Forbidden("CSRF verification failed.")
        workspace_id = request.headers.get("X-Workspace-ID")
        return await run_db(_then, lambda: _user_auth(user, workspace_id), work, 403)
    raise Unauthorized("Authentication credentials were not provided.")


async def authenticate(request: HttpRequest) -> WorkspaceAuth:
    """The workspace of the request (API key or session), with its rate limits counted."""
    return await authenticated(request, lambda auth: auth)


def read_json(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, checked like every DRF view's (parsers.decode_json_object)."""
    return decode_json_object(request.body)


def async_api(methods: set[str]) -> Callable[[AsyncView], Any]:
    """Method check, CSRF handled by `authenticate`, DomainError → envelope, no stack traces.

    (Five levels deep only because a decorator with arguments nests two functions.)"""

    def wrap(view: AsyncView) -> AsyncView:
        @functools.wraps(view)
        async def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                if request.method not in methods:
                    raise MethodNotAllowed(methods)
                return await view(request, *args, **kwargs)
            except Exception as exc:
                return problem_response(exc, where=request.path)

        return csrf_exempt(inner)  # type: ignore[return-value]

    return wrap


def json_data(payload: Any, status: int = 200) -> JsonResponse:
    return JsonResponse({"data": payload}, status=status)
