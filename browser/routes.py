"""The wrapper of every browser chat view: CORS (browser/cors.py), the method check, the
error envelope, no CSRF (no cookies are read: the credentials are headers)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from browser import cors
from browser.access import Caller
from promptrails.api.errors import ApiError, error_response
from promptrails.db import run_db

logger = logging.getLogger("promptrails.browser")
BrowserView = Callable[..., Awaitable[HttpResponseBase]]


async def _cors(response: HttpResponseBase, caller: Caller) -> HttpResponseBase:
    cors.vary(response)
    origin = caller.origin
    if not origin:
        return response
    if caller.key is not None:
        allowed = origin in caller.key.allowed_origins
    else:
        allowed = await run_db(cors.origin_listed, origin)
    if allowed:
        cors.allow(response, origin)
    return response


def browser_api(methods: set[str]) -> Callable[[BrowserView], Any]:
    """`view(request, caller, *args)`: `caller` carries the headers and, once known, the key
    (set by browser.access), whose origins decide CORS for the response."""

    def wrap(view: BrowserView) -> Any:
        @functools.wraps(view)
        async def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            caller = Caller.of(request)
            if request.method == "OPTIONS":
                response: HttpResponseBase = HttpResponse(status=204)
                cors.vary(response)
                if await run_db(cors.origin_listed, caller.origin):
                    cors.preflight(response, caller.origin, methods)
                return response
            if request.method not in methods:
                response = error_response("method_not_allowed", "Method not allowed.", 405)
                response["Allow"] = ", ".join(sorted(methods | {"OPTIONS"}))
                return await _cors(response, caller)
            try:
                response = await view(request, caller, *args, **kwargs)
            except ApiError as exc:
                response = error_response(exc.error_code, exc.message, exc.status_code,
                                          exc.details, exc.headers)
            except Exception:
                logger.exception("Unhandled error on %s", request.path)
                response = error_response("internal_error", "An internal error occurred.", 500)
            return await _cors(response, caller)

        return csrf_exempt(inner)

    return wrap
