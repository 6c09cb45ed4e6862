"""Sync-and-async middleware (nothing here forces the streaming routes onto a thread)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from promptrails.api.errors import error_response, problem_response
from promptrails.errors import PayloadTooLarge


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds {settings.MAX_REQUEST_BYTES} bytes.",
                           details={"max_bytes": settings.MAX_REQUEST_BYTES})


def _declared_too_large(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.MAX_REQUEST_BYTES


class _Both:
    """Base for middleware that runs natively in sync and async stacks."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        early = self.before(request)
        if early is not None:
            return early
        return self.after(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        early = self.before(request)
        if early is not None:
            return early
        response = await self.get_response(request)  # type: ignore[misc]
        return self.after(request, response)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response


class RequestSizeLimitMiddleware(_Both):
    """413 from the declared Content-Length. Under ASGI promptrails.asgi_middleware.BodyLimit
    has refused such a body (and a chunked one past the limit) before it was read; this is
    for WSGI and the test client."""

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if request.path.startswith("/api/") and _declared_too_large(request):
            return problem_response(_too_large())
        return None


class ApiErrorMiddleware(_Both):
    """Under /api/: Django's own HTML 404/405/500 responses become the JSON error envelope."""

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not request.path.startswith("/api/") or request.path.startswith("/api/docs"):
            return response
        content_type = response.get("Content-Type", "")
        if response.status_code < 400 or "json" in content_type:
            return response
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                403: "forbidden", 400: "validation_error"}.get(response.status_code)
        if code is None and response.status_code >= 500:
            return error_response("internal_error", "An internal error occurred.", 500)
        if code is None:
            return response
        converted = error_response(code, _message(response, code), response.status_code)
        if response.has_header("Allow"):
            converted["Allow"] = response["Allow"]
        return converted

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, RequestDataTooBig):
            exception = _too_large()
        return problem_response(exception, where=request.path)


def _message(response: HttpResponseBase, code: str) -> str:
    return {
        "not_found": "Not found.",
        "method_not_allowed": "Method not allowed.",
        "payload_too_large": "The request body is too large.",
        "forbidden": "Forbidden.",
        "validation_error": "Bad request.",
    }[code]


class LoginThrottleMiddleware(_Both):
    """Sign-in attempts (admin and chat page) per client address (X-Forwarded-For only from
    trusted proxies: promptrails.client_address): 429 past the limit."""

    paths = ("/admin/login/", "/login")

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if request.method == "POST" and request.path in self.paths:
            from promptrails.client_address import client_address
            from promptrails.ratelimit import login_attempt

            if not login_attempt(client_address(request.META)):
                response = HttpResponse(
                    "Too many sign-in attempts; wait a minute.", status=429,
                    content_type="text/plain",
                )
                response["Retry-After"] = "60"
                return response
        return None
