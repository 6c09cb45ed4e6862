"""The error envelope: {"error": {"code", "message", "details"}} for every API error."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("promptrails.api")


class ApiError(exceptions.APIException):
    """An API error with an explicit envelope code."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int = 400,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class NotFound(ApiError):
    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message, code="not_found", status_code=404)


class SessionBusy(ApiError):
    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            "A turn is already running in this session; retry when it ends.",
            code="session_busy",
            status_code=409,
            headers={"Retry-After": str(retry_after)},
        )


def validation_error(details: dict[str, list[str]], message: str = "Invalid input.") -> ApiError:
    return ApiError(message, code="validation_error", status_code=400, details=details)


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
            if isinstance(value, list):
                out[str(key)] = [str(v) for v in value]
            elif isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every exception becomes the envelope; 500s hide internals."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApiError):
        set_rollback()
        return Response(
            error_body(exc.error_code, exc.message, exc.details),
            status=exc.status_code,
            headers=exc.headers or None,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code = _CODES.get(exc.status_code, "error")
        if isinstance(exc, exceptions.ValidationError):
            details: dict[str, Any] = _flatten(exc.detail)
            message = "Invalid input."
            if details:
                field, msgs = next(iter(details.items()))
                message = f"{field}: {msgs[0]}" if field != "non_field_errors" else msgs[0]
        else:
            details = {}
            message = str(exc.detail)
        if isinstance(exc, exceptions.NotAuthenticated):
            code = "unauthorized"
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        status_code = exc.status_code
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            status_code = status.HTTP_401_UNAUTHORIZED
        return Response(error_body(code, message, details), status=status_code,
                        headers=headers or None)
    set_rollback()
    logger.exception("Unhandled error in %s", context.get("view"))
    return Response(
        error_body("internal_error", "An internal error occurred."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return error_response("not_found", f"No route for {request.method} {request.path}.", 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return error_response("forbidden", f"CSRF verification failed: {reason}", 403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response("not_found", "Not found.", 404)


def handler500(request: HttpRequest) -> JsonResponse:
    return error_response("internal_error", "An internal error occurred.", 500)
