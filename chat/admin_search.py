"""The session changelist search: title, metadata values and message content.

PostgreSQL: full-text search (`plainto_tsquery('simple', term)`, every word must occur)
over the title, the metadata's string and number values and the messages' content, each
served by a GIN expression index (chat/migrations/0003_admin_search_indexes.py); the
matching session ids are the union of the three index scans.

SQLite (the embedded default, for small installations): a case-insensitive substring
match (`icontains`) of the whole term against the title, the metadata's JSON text and
the messages' content — simpler, unindexed, fine for thousands of sessions.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet

from chat.admin_filters import SqlOnMetadata
from chat.models import Message, Session


def _tsvector(template: str, column: str) -> Func:
    from django.contrib.postgres.search import SearchVectorField

    return Func(F(column), template=template, output_field=SearchVectorField())


def _postgres_search(queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
    from django.contrib.postgres.search import SearchQuery

    query = SearchQuery(term, config="simple", search_type="plain")
    by_title = Session.objects.alias(
        _v=_tsvector("to_tsvector('simple'::regconfig, (%(expressions)s)::text)", "title")
    ).filter(_v=query).values("pk")
    by_metadata = Session.objects.alias(
        _v=_tsvector(
            "jsonb_to_tsvector('simple'::regconfig, %(expressions)s, "
            "'[\"string\", \"numeric\"]'::jsonb)",
            "metadata",
        )
    ).filter(_v=query).values("pk")
    by_content = Message.objects.alias(
        _v=_tsvector("to_tsvector('simple'::regconfig, %(expressions)s)", "content")
    ).filter(_v=query).values("session_id")
    return queryset.filter(
        Q(pk__in=by_title) | Q(pk__in=by_metadata) | Q(pk__in=by_content)
    )


def _sqlite_search(queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
    in_messages = Exists(
        Message.objects.filter(session_id=OuterRef("pk"), content__icontains=term)
    )
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    in_metadata = SqlOnMetadata(
        "EXISTS (SELECT 1 FROM json_tree({col}) AS t WHERE t.type IN ('text', 'integer', "
        "'real') AND CAST(t.atom AS TEXT) LIKE %s ESCAPE '\\')",
        [f"%{escaped}%"],
    )
    return queryset.filter(Q(title__icontains=term) | in_metadata | in_messages)


def session_search(queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
    term = term.strip()
    if not term:
        return queryset
    if connection.vendor == "postgresql":
        return _postgres_search(queryset, term)
    return _sqlite_search(queryset, term)
