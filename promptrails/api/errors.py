"""The error envelope: {"error": {"code", "message", "details"}} for every API error."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from promptrails.errors import DomainError, InvalidInput

logger = logging.getLogger("promptrails.api")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    code: str, message: str, status_code: int, details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status_code)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                out.update({f"{key}.{sub}": msgs for sub, msgs in _flatten(value).items()})
            else:
                out[str(key)] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {}


@dataclass(frozen=True)
class Problem:
    """An error as the client sees it: status, envelope body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def _from_drf(exc: exceptions.APIException) -> Problem:
    code = _CODES.get(exc.status_code, "error")
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.ValidationError):
        invalid = InvalidInput(_flatten(exc.detail) or None)
        return Problem(400, error_body(invalid.code, invalid.message, invalid.details), {})
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    status_code = exc.status_code
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code, status_code = "unauthorized", status.HTTP_401_UNAUTHORIZED
    return Problem(status_code, error_body(code, str(exc.detail)), headers)


def problem(exc: Exception, *, where: object = None) -> Problem:
    """The one mapping from an exception to the envelope, for REST, SSE and WebSocket: named
    domain errors carry their own code and status; Django's and DRF's exceptions map by
    status; anything else is logged (with `where`) and hidden behind a 500."""
    if isinstance(exc, DomainError):
        return Problem(exc.status, error_body(exc.code, exc.message, exc.details), exc.headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, exceptions.APIException):
        return _from_drf(exc)
    logger.error("Unhandled error in %s", where, exc_info=exc)
    return Problem(500, error_body("internal_error", "An internal error occurred."), {})


def problem_response(exc: Exception, *, where: object = None) -> JsonResponse:
    """`problem(exc)` as a Django response (for the async views outside DRF)."""
    found = problem(exc, where=where)
    response = JsonResponse(found.body, status=found.status)
    for key, value in found.headers.items():
        response[key] = value
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler: every exception becomes the envelope, the transaction is
    rolled back; 500s hide internals."""
    set_rollback()
    found = problem(exc, where=context.get("view"))
    return Response(found.body, status=found.status, headers=found.headers or None)


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return error_response("not_found", f"No route for {request.method} {request.path}.", 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return error_response("forbidden", f"CSRF verification failed: {reason}", 403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response("not_found", "Not found.", 404)


def handler500(request: HttpRequest) -> JsonResponse:
    return error_response("internal_error", "An internal error occurred.", 500)
