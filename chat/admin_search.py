"""The session changelist search: title, metadata values and message content.

PostgreSQL: full-text search (`plainto_tsquery('simple', term)`, every word must occur)
over the title, the metadata's string and number values and the messages' content, each
served by a GIN expression index (chat/migrations/0003_admin_search_indexes.py); the
matching session ids are the UNION of the three, read once per request and then used as
an id list (the changelist reads its result set three times). Each of the
three keeps only the newest SEARCH_CAP matches of the filtered result set, so a common
word costs no more than a rare one: in the default newest-first order the pages are exact
up to SEARCH_CAP rows (the changelist's count is capped there too); sorted by another
column, a search matching more than that sorts the newest SEARCH_CAP matches of each kind.

SQLite (the embedded default, for small installations): a case-insensitive substring
match (`icontains`) of the whole term against the title, the metadata's JSON text and
the messages' content — simpler, unindexed, fine for thousands of sessions.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet

from chat.admin_filters import SqlOnMetadata
from chat.models import Message

SEARCH_CAP = 1_000


def _tsvector(template: str, column: str) -> Func:
    from django.contrib.postgres.search import SearchVectorField

    return Func(F(column), template=template, output_field=SearchVectorField())


def _postgres_search(queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
    from django.contrib.postgres.search import SearchQuery

    query = SearchQuery(term, config="simple", search_type="plain")
    title_vector = _tsvector("to_tsvector('simple'::regconfig, (%(expressions)s)::text)",
                             "title")
    metadata_vector = _tsvector(
        "jsonb_to_tsvector('simple'::regconfig, %(expressions)s, "
        "'[\"string\", \"numeric\"]'::jsonb)",
        "metadata",
    )
    content_match = Message.objects.alias(
        _v=_tsvector("to_tsvector('simple'::regconfig, %(expressions)s)", "content")
    ).filter(_v=query).order_by().values("session_id")
    # Each branch: the newest SEARCH_CAP sessions of the (filtered, scoped) result set
    # matching one way — the planner picks per branch between walking the newest-first
    # index (a common word) and the full-text index (a rare one). The union of the three
    # is at most 3 × SEARCH_CAP ids.
    newest = ("-updated_at", "-id")
    branches = [
        queryset.alias(_search_v=title_vector).filter(_search_v=query),
        queryset.alias(_search_v=metadata_vector).filter(_search_v=query),
        queryset.filter(pk__in=content_match),
    ]
    ids = [b.order_by(*newest).values("pk")[:SEARCH_CAP] for b in branches]
    # Evaluated once here: the changelist reads the result set three times (capped count,
    # page, metadata facet sample), and the union is the expensive part of each.
    matching = list(ids[0].union(*ids[1:]).values_list("pk", flat=True))
    return queryset.filter(pk__in=matching)


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
