"""page/limit pagination with the {"data", "meta"} envelope."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from promptrails.errors import InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class PageParams:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def _int_param(params: Any, name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput({name: [f"{name} must be an integer."]}) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput({name: [f"{name} must be {bound}."]})
    return value


def page_params(params: Any) -> PageParams:
    return PageParams(
        page=_int_param(params, "page", 1, 1, None),
        limit=_int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    )


def meta(total: int, params: PageParams) -> dict[str, int]:
    pages = math.ceil(total / params.limit) if total else 0
    return {"total": total, "page": params.page, "limit": params.limit,
            "pages": pages, "total_pages": pages}


def paginate(queryset: QuerySet[Any], params: PageParams) -> tuple[list[Any], dict[str, int]]:
    total = queryset.count()
    # Past the end there is nothing to fetch; a huge page would overflow the SQL OFFSET
    # (a 500 on SQLite, found by the fuzzer).
    if params.offset >= total:
        return [], meta(total, params)
    items = list(queryset[params.offset : params.offset + params.limit])
    return items, meta(total, params)


class PagePagination(BasePagination):
    """DRF pagination class producing {"data": [...], "meta": {...}}."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.params = page_params(request.query_params)
        items, self.meta = paginate(queryset, self.params)
        return items

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"data": data, "meta": self.meta})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {
                "data": schema,
                "meta": {
                    "type": "object",
                    "properties": {k: {"type": "integer"} for k in
                                   ("total", "page", "limit", "pages", "total_pages")},
                },
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {"name": "page", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
        ]
