"""Django's own middleware without a thread hop per hook under ASGI.

`MiddlewareMixin.__acall__` runs every `process_request` / `process_response` in a thread
(`sync_to_async`), and the handler does the same for `process_view`: with Django's seven
middlewares in settings a request paid 13 hops around its view — about 5 ms of a streaming
send on the bench machine, before the first token (bench/RESULTS.md). Their hooks only read
and write the request and response in memory, so on the ASGI path they run on the event
loop; the two that can touch storage still go to a thread when they will: a session that
must be saved, messages that must be stored. (Django ticket #37177 is the same cost seen
upstream.) Only these exact classes are run inline — a subclass may do I/O in its hooks.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.deprecation import MiddlewareMixin

from promptrails.api.errors import error_body
from promptrails.request_threads import request_threads

_mixin_acall = MiddlewareMixin.__acall__


def _response_needs_thread(middleware: MiddlewareMixin, request: HttpRequest) -> bool:
    if isinstance(middleware, SessionMiddleware):
        session = getattr(request, "session", None)
        return bool(session is not None and session.accessed and (
            session.modified or settings.SESSION_SAVE_EVERY_REQUEST))
    if isinstance(middleware, MessageMiddleware):
        storage = getattr(request, "_messages", None)
        return bool(storage is not None and (storage.used or storage.added_new))
    return False


def _inline_classes() -> frozenset[type[MiddlewareMixin]]:
    classes: set[type[MiddlewareMixin]] = {
        SecurityMiddleware, SessionMiddleware, CommonMiddleware, AuthenticationMiddleware,
        MessageMiddleware, XFrameOptionsMiddleware,
    }
    if not settings.CSRF_USE_SESSIONS:  # with it, the token is read from the session store
        classes.add(CsrfViewMiddleware)
    return frozenset(classes)


INLINE: frozenset[type[MiddlewareMixin]] = frozenset()


async def _acall(self: MiddlewareMixin, request: HttpRequest) -> HttpResponseBase:
    if type(self) not in INLINE:
        return await _mixin_acall(self, request)  # type: ignore[no-any-return]
    response = None
    if hasattr(self, "process_request"):
        response = self.process_request(request)
    response = response or await self.get_response(request)  # type: ignore[misc]
    if hasattr(self, "process_response"):
        if _response_needs_thread(self, request):
            response = await sync_to_async(self.process_response, thread_sensitive=True)(
                request, response)
        else:
            response = self.process_response(request, response)
    return response  # type: ignore[no-any-return]


def _inline_view_hook(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return method(*args, **kwargs)

    return call


class Handler(ASGIHandler):
    """Django's ASGI handler, with CsrfViewMiddleware.process_view run on the loop too, and
    each request's sync work on a kept thread (promptrails.request_threads)."""

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = request_threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            request_threads.give_back(executor)

    def adapt_method_mode(self, is_async: bool, method: Any, method_is_async: bool | None = None,
                          debug: bool = False, name: str | None = None) -> Any:
        owner = getattr(method, "__self__", None)
        if is_async and type(owner) in INLINE \
                and getattr(method, "__name__", "") == "process_view":
            return _inline_view_hook(method)
        return super().adapt_method_mode(is_async, method, method_is_async, debug, name)


def run_hooks_inline() -> None:
    """Give those classes the inline `__acall__` (a subclass is handed back to Django's)."""
    global INLINE
    INLINE = _inline_classes()
    for cls in INLINE:
        cls.__acall__ = _acall  # type: ignore[method-assign]


def no_thread_before_the_view() -> None:
    """Under ASGI each request's synchronous work runs in a thread made for that request, so
    at its start Django's two request_started receivers find no connection to close and no
    query log to reset — but, being synchronous, they cost every request (the streaming ones
    included) a new thread and a hop to it before the view runs. The request's connections
    are still closed when it finishes (request_finished), and ours run in promptrails.db's
    pool, which tidies its own."""
    signals.request_started.disconnect(reset_queries)
    signals.request_started.disconnect(close_old_connections)



class BodyLimit:
    """PROMPTRAILS_MAX_REQUEST_BYTES, enforced while the body arrives, for every HTTP route.

    Django's ASGI handler reads a whole body (to a temporary file past 2.5 MB) before any
    middleware or view runs, so a limit checked there comes after the reading. Here a body
    declared too large is refused before a byte of it is read, and a chunked one (no
    Content-Length) is read into memory up to the limit and refused as soon as it passes it,
    without reading on: 413 `payload_too_large` in the error envelope, and the connection
    closed. A chunked body within the limit is handed on whole with its Content-Length set,
    so that every reader sees it (DRF takes a request without one for a body-less one).
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[..., Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.MAX_REQUEST_BYTES
        declared: bytes | None = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None:  # the server holds the body to its declared length
            if declared.strip().isdigit() and int(declared) > limit:
                return await _too_large(send, limit)
            return await self.app(scope, receive, send)
        if not chunked:  # HTTP/1.1: no length, no chunks, no body
            return await self.app(scope, receive, send)
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _too_large(send, limit)
            if chunk:
                parts.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        headers = [(name, value) for name, value in scope["headers"]
                   if name != b"transfer-encoding"]
        headers.append((b"content-length", str(len(body)).encode()))
        replay: list[dict[str, Any]] = [{"type": "http.request", "body": body,
                                         "more_body": False}]

        async def receive_replayed() -> Any:
            return replay.pop() if replay else await receive()

        return await self.app({**scope, "headers": headers}, receive_replayed, send)


async def _too_large(send: Callable[..., Awaitable[None]], limit: int) -> None:
    body = json.dumps(error_body("payload_too_large",
                                 f"The request body exceeds {limit} bytes.",
                                 {"max_bytes": limit})).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
