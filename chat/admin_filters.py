"""Session changelist filters: thumbs-down feedback and the metadata key/value filter.

The metadata filter works in two steps on the *current* result set (all other filters,
the search and the workspace scoping applied): it lists the keys present, and for the key
chosen (`meta_key=`) its most common values with counts. Choosing a value adds a
condition `meta=["key", value]` (JSON, so keys and values may hold any character and
values keep their JSON type); several `meta=` conditions are AND-ed.

PostgreSQL: a condition is `metadata @> {"key": value}`, served by the GIN index
`session_metadata_gin` (jsonb_path_ops). SQLite: an EXISTS over `json_each(metadata)`
comparing the key and the value's JSON text. Keys and counts come from the most recent
`SAMPLE_ROWS` matching sessions (walking the `(updated_at DESC, id DESC)` or
`(workspace, -updated_at)` index), so they stay fast on millions of rows; below that size
they are exact. When the result set is at least that large (the lists are a sample anyway)
they are cached for `FACET_CACHE_SECONDS`, keyed by the sample query's SQL — which holds
every filter, the search and the workspace scoping, so users never share another scope's
lists; smaller result sets are always computed fresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, Exists, Expression, F, OuterRef, QuerySet
from django.http import HttpRequest

from chat.models import Feedback, Session

SAMPLE_ROWS = 10_000
MAX_KEYS = 50
MAX_VALUES = 20
FACET_CACHE_SECONDS = 60
CACHE_FROM_ROWS = SAMPLE_ROWS  # result sets this large get their lists cached

# The JSON text of a json_each row's value, as SQLite would serialize it.
_SQLITE_VALUE_TEXT = (
    "CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' "
    "WHEN 'object' THEN j.value WHEN 'array' THEN j.value ELSE json_quote(j.value) END"
)


class ThumbsDownFilter(admin.SimpleListFilter):
    title = "feedback"
    parameter_name = "thumbs_down"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has thumbs-down"), ("no", "No thumbs-down")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        down = Exists(Feedback.objects.filter(session_id=OuterRef("pk"), value__lt=0))
        if self.value() == "yes":
            return queryset.filter(down)
        if self.value() == "no":
            return queryset.exclude(down)
        return queryset


class SqlOnMetadata(Expression):
    """A boolean SQL condition on this row's `metadata` column: `{col}` in `sql` stands
    for the (properly aliased) column, `%s` for the params."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, sql: str, params: list[Any]) -> None:
        super().__init__()
        self.sql = sql
        self.params = params
        self.column: Any = F("metadata")

    def resolve_expression(self, query: Any = None, allow_joins: bool = True, reuse: Any = None,
                           summarize: bool = False, for_save: bool = False) -> Any:
        copy = self.copy()
        copy.column = self.column.resolve_expression(query, allow_joins, reuse, summarize,
                                                     for_save)
        return copy

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        col, col_params = compiler.compile(self.column)
        uses = self.sql.count("{col}")
        return self.sql.replace("{col}", col), (*(list(col_params) * uses), *self.params)


def _sqlite_metadata_has(key: str, texts: list[str]) -> SqlOnMetadata:
    marks = ", ".join(["%s"] * len(texts))
    return SqlOnMetadata(
        "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type({col}) = 'object' "  # noqa: S608
        "THEN {col} ELSE '{}' END) AS j "
        f"WHERE j.key = %s AND ({_SQLITE_VALUE_TEXT}) IN ({marks}))",
        [key, *texts],
    )


def metadata_condition(queryset: QuerySet[Any], key: str, value: Any) -> QuerySet[Any]:
    """Sessions whose metadata has `key` equal to `value` (any JSON value)."""
    if connection.vendor == "postgresql":
        return queryset.filter(metadata__contains={key: value})
    texts = {
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        json.dumps(value, separators=(",", ":")),
    }
    return queryset.filter(_sqlite_metadata_has(key, sorted(texts)))


# Only constants and SQL compiled by Django are interpolated below; every value is a param.
def _sample_sql(queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    sample = queryset.order_by("-updated_at").values("metadata")[:SAMPLE_ROWS]
    sql, params = sample.query.sql_with_params()
    return sql, tuple(params)


def metadata_keys(queryset: QuerySet[Any]) -> list[tuple[str, int]]:
    """(key, sessions having it) over the sampled result set, most common first."""
    try:
        inner, params = _sample_sql(queryset)
    except EmptyResultSet:  # e.g. a search that matched no id
        return []
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT k, COUNT(*) FROM ({inner}) AS s CROSS JOIN LATERAL jsonb_object_keys("  # noqa: S608
            "CASE WHEN jsonb_typeof(s.metadata) = 'object' THEN s.metadata ELSE '{}'::jsonb END"
            ") AS k GROUP BY k ORDER BY COUNT(*) DESC, k LIMIT %s"
        )
    else:
        sql = (
            f"SELECT j.key, COUNT(*) FROM ({inner}) AS s, json_each(CASE WHEN "  # noqa: S608
            "json_type(s.metadata) = 'object' THEN s.metadata ELSE '{}' END) AS j "
            "GROUP BY j.key ORDER BY COUNT(*) DESC, j.key LIMIT %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, MAX_KEYS))
        return [(str(key), int(count)) for key, count in cursor.fetchall()]


def metadata_values(queryset: QuerySet[Any], key: str) -> list[tuple[Any, int]]:
    """(value, sessions having it) for `key` over the sampled result set, most common first."""
    try:
        inner, params = _sample_sql(queryset)
    except EmptyResultSet:
        return []
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT (s.metadata -> %s)::text AS v, COUNT(*) FROM ({inner}) AS s "  # noqa: S608
            "WHERE jsonb_typeof(s.metadata) = 'object' AND jsonb_exists(s.metadata, %s) "
            "GROUP BY v ORDER BY COUNT(*) DESC, v LIMIT %s"
        )
        args: tuple[Any, ...] = (key, *params, key, MAX_VALUES)
    else:
        sql = (
            f"SELECT {_SQLITE_VALUE_TEXT} AS v, COUNT(*) FROM ({inner}) AS s, json_each(CASE "  # noqa: S608
            "WHEN json_type(s.metadata) = 'object' THEN s.metadata ELSE '{}' END) AS j "
            "WHERE j.key = %s GROUP BY v ORDER BY COUNT(*) DESC, v LIMIT %s"
        )
        args = (*params, key, MAX_VALUES)
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return [(json.loads(text), int(count)) for text, count in cursor.fetchall()]


def _facet_cache_key(queryset: QuerySet[Any], kind: str, key: str | None) -> str:
    inner, params = _sample_sql(queryset)
    digest = hashlib.sha256(
        json.dumps([connection.alias, kind, key, inner, [str(p) for p in params]]).encode()
    ).hexdigest()
    return f"admin:session-meta-facets:{digest}"


def cached_facets(queryset: QuerySet[Any], result_count: int, kind: str, key: str | None,
                  compute: Callable[[], list[tuple[Any, int]]]) -> list[tuple[Any, int]]:
    """`compute()`, cached for a short time when the result set fills the sample."""
    if result_count < CACHE_FROM_ROWS:
        return compute()
    cache_key = _facet_cache_key(queryset, kind, key)
    found = cache.get(cache_key)
    if isinstance(found, list):
        return found
    value = compute()
    cache.set(cache_key, value, FACET_CACHE_SECONDS)
    return value


def display_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def encode_condition(key: str, value: Any) -> str:
    return json.dumps([key, value], ensure_ascii=False, separators=(",", ":"))


def decode_condition(raw: str) -> tuple[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise IncorrectLookupParameters("Bad metadata condition.") from exc
    if not (isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[0], str)):
        raise IncorrectLookupParameters("A metadata condition is [key, value].")
    return parsed[0], parsed[1]


class MetadataFilter(admin.ListFilter):
    title = "metadata"
    template = "admin/chat/session/metadata_filter.html"
    parameter_name = "meta"
    key_parameter = "meta_key"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any,
                 model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        raw = params.pop(self.parameter_name, [])
        raw_list = raw if isinstance(raw, list) else [raw]
        self.conditions = [decode_condition(item) for item in raw_list if item]
        key = params.pop(self.key_parameter, [])
        key_list = key if isinstance(key, list) else [key]
        self.browse_key: str | None = key_list[-1] if key_list else None
        if self.conditions:
            self.used_parameters[self.parameter_name] = raw_list
        if self.browse_key:
            self.used_parameters[self.key_parameter] = self.browse_key

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name, self.key_parameter]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        for key, value in self.conditions:
            queryset = metadata_condition(queryset, key, value)
        return queryset

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        current = [encode_condition(k, v) for k, v in self.conditions]
        for index, (key, value) in enumerate(self.conditions):
            rest = current[:index] + current[index + 1:]
            yield {
                "kind": "condition",
                "display": f"{key} = {display_value(value)}",
                "query_string": changelist.get_query_string({self.parameter_name: rest or None}),
                "selected": True,
            }
        result_set: QuerySet[Session] = changelist.queryset
        result_count = int(getattr(changelist, "result_count", 0) or 0)
        if self.browse_key is not None:
            browse_key = self.browse_key
            yield {
                "kind": "back",
                "display": f"All keys (browsing “{self.browse_key}”)",
                "query_string": changelist.get_query_string({self.key_parameter: None}),
                "selected": False,
            }
            values = cached_facets(result_set, result_count, "values", browse_key,
                                   lambda: metadata_values(result_set, browse_key))
            for value, count in values:
                yield {
                    "kind": "value",
                    "display": display_value(value),
                    "count": count,
                    "query_string": changelist.get_query_string({
                        self.parameter_name: [*current, encode_condition(self.browse_key, value)],
                        self.key_parameter: None,
                    }),
                    "selected": False,
                }
            return
        keys = cached_facets(result_set, result_count, "keys", None,
                             lambda: metadata_keys(result_set))
        for key, count in keys:
            yield {
                "kind": "key",
                "display": key,
                "count": count,
                "query_string": changelist.get_query_string({self.key_parameter: key}),
                "selected": False,
            }

