"""Named domain errors: what went wrong, in words a client can act on.

Services, selectors and transports raise these; each carries its envelope code and HTTP
status, and `promptrails.api.errors.problem` maps any of them (and Django's and DRF's own
exceptions) to the error envelope in one place, for REST, SSE and WebSocket alike
(docs/api.md "Errors"). Nothing here knows about DRF or HTTP responses.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """An expected failure: its envelope `code`, HTTP `status`, message and details."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request failed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = details or {}
        self.headers: dict[str, str] = headers or {}
        super().__init__(self.message)


class InvalidInput(DomainError):
    """Input that fails validation; `details` maps each field to its messages. Without a
    message, the first field's first message is the message."""

    code = "validation_error"
    status = 400
    default_message = "Invalid input."

    def __init__(self, details: dict[str, list[str]] | None = None,
                 message: str | None = None) -> None:
        if message is None and details:
            field, messages = next(iter(details.items()))
            message = messages[0] if field == "non_field_errors" else f"{field}: {messages[0]}"
        super().__init__(message, details=details)


def invalid_field(field: str, message: str) -> InvalidInput:
    """One field's problem, said as `<field>: <message>`."""
    return InvalidInput({field: [message]})


class NotAllowed(InvalidInput):
    """A well-formed request the resource's state does not allow (already decided, already
    ended...): a 400 validation error with only a message."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401
    default_message = "Authentication credentials were not provided or are invalid."


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    default_message = "You do not have permission to do this."


class NotFound(DomainError):
    """No `kind` the caller may see: `NotFound("agent")` says "Agent not found."; one
    message for "does not exist" and "belongs to another workspace"."""

    code = "not_found"
    status = 404
    default_message = "Not found."

    def __init__(self, kind: str | None = None, *, message: str | None = None) -> None:
        if message is None and kind:
            message = f"{kind[0].upper()}{kind[1:]} not found."
        super().__init__(message)


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"
    status = 405
    default_message = "Method not allowed."

    def __init__(self, allowed: set[str]) -> None:
        super().__init__(headers={"Allow": ", ".join(sorted(allowed))})


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    status = 409
    default_message = "This Idempotency-Key was used with a different request."


class SessionBusy(DomainError):
    """The session's turn lock is held; details say by what when the turn is parked."""

    code = "session_busy"
    status = 409
    default_message = "A turn is already running in this session; retry when it ends."

    def __init__(self, retry_after: int = 1, details: dict[str, Any] | None = None) -> None:
        super().__init__(details=details, headers={"Retry-After": str(retry_after)})


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
    default_message = "The request is too large."


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests."


class UpstreamError(DomainError):
    """A model provider or tool server failed or answered something unusable."""

    code = "upstream_error"
    status = 502
    default_message = "The upstream service failed."


class InvalidFrame(DomainError):
    """A WebSocket frame this server cannot act on (the socket stays open)."""

    code = "invalid_frame"
    status = 400
    default_message = "Invalid frame."
