"""Refuse text the database cannot store in a request's path, query string and headers.

The JSON body is checked by its parser (promptrails.api.parsers); these parts reach the
ORM as ids and filter values, where a NUL character is a 500 on PostgreSQL. A path holding
one names nothing (404); a query parameter or header holding one is a 400 naming it.
Unpaired surrogates cannot arrive here: the server decodes percent-escapes with
replacement characters. Checked for every route, the admin's too.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase

from promptrails.api.errors import error_response
from promptrails.middleware import _Both
from promptrails.storable import storable_text, text_problem


def _param_problems(request: HttpRequest) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, values in request.GET.lists():
        for text in (name, *values):
            problem = text_problem(text)
            if problem is not None:
                problems[storable_text(name) or "query"] = [problem]
    return problems


def _header_problems(request: HttpRequest) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                problems[key[5:].replace("_", "-").title()] = [problem]
    return problems


def _refusal(problems: dict[str, list[str]], where: str) -> HttpResponseBase:
    field, messages = next(iter(problems.items()))
    return error_response("validation_error", f"{where} {field}: {messages[0]}", 400, problems)


class StorableTextMiddleware(_Both):
    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if text_problem(request.path_info) is not None:
            return error_response("not_found", "Not found.", 404)
        query = request.META.get("QUERY_STRING", "")
        if query and ("%00" in query or "\x00" in query):
            problems = _param_problems(request)
            if problems:
                return _refusal(problems, "Query parameter")
        problems = _header_problems(request)
        if problems:
            return _refusal(problems, "Header")
        return None
