"""The wrapper of every browser chat view: CORS (browser/cors.py), the method check, the
error envelope, no CSRF (no cookies are read: the credentials are headers)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from browser import cors
from browser.access import Caller
from promptrails.api.errors import problem_response
from promptrails.db import run_db
from promptrails.errors import MethodNotAllowed

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
    (set by browser.access), whose origins decide CORS for the response.

    (Five levels deep only because a decorator with arguments nests two functions.)"""

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
            try:
                if request.method not in methods:
                    raise MethodNotAllowed(methods | {"OPTIONS"})
                response = await view(request, caller, *args, **kwargs)
            except Exception as exc:
                response = problem_response(exc, where=request.path)
            return await _cors(response, caller)

        return csrf_exempt(inner)

    return wrap
