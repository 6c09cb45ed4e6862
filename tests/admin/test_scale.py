"""The session changelist's large-table behaviour: capped counts, cached facet lists,
the newest-first index, and the search's union of capped branches."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chat import admin as chat_admin
from chat import admin_filters, admin_search
from chat.models import Session
from tests.admin.support import World, make_session

CHANGELIST = "/admin/chat/session/"


def _choices(client: Any, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    response = client.get(f"{CHANGELIST}?{urlencode(params or {})}")
    assert response.status_code == 200
    cl = response.context["cl"]
    spec = next(s for s in cl.filter_specs if s.title == "metadata")
    return list(spec.choices(cl))


def _keys(client: Any, params: dict[str, str] | None = None) -> set[str]:
    return {c["display"] for c in _choices(client, params) if c.get("kind") == "key"}


@pytest.fixture
def private_cache(monkeypatch: pytest.MonkeyPatch) -> LocMemCache:
    cache = LocMemCache("admin-scale-test", {})
    monkeypatch.setattr(admin_filters, "cache", cache)
    return cache


def test_facets_computed_fresh_below_the_sample_size(admin_client: Any, world: World,
                                                     private_cache: LocMemCache) -> None:
    assert "late_key" not in _keys(admin_client)
    make_session(world.a, world.agent_a, "Late", {"late_key": "x"}, messages=0)
    assert "late_key" in _keys(admin_client)  # small result set: never cached
    assert not private_cache._cache  # type: ignore[attr-defined]


def test_facets_cached_per_filter_state_and_scope(admin_client: Any, world: World,
                                                  member_client: Client,
                                                  private_cache: LocMemCache,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_filters, "CACHE_FROM_ROWS", 1)  # every result set is "large"
    before = _keys(admin_client)
    assert "tenant_b_key" in before
    make_session(world.a, world.agent_a, "Late", {"late_key": "x"}, messages=0)
    assert _keys(admin_client) == before  # served from the cache
    # Another filter state is another cache entry, computed fresh.
    assert "late_key" in _keys(admin_client, {"agent__id__exact": world.agent_a.pk})
    # Values lists are cached separately from key lists.
    values = {c["display"] for c in _choices(admin_client, {"meta_key": "channel"})
              if c.get("kind") == "value"}
    assert values == {"web", "app"}
    # A member of A never gets the superuser's (all-workspace) cached lists.
    member_keys = _keys(member_client)
    assert "tenant_b_key" not in member_keys and "late_key" in member_keys


def test_capped_count_paginator(admin_client: Any, world: World,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_admin, "COUNT_CAP", 2)
    response = admin_client.get(CHANGELIST)
    cl = response.context["cl"]
    assert cl.result_count == 2  # counted up to the cap only
    assert cl.full_result_count is None  # show_full_result_count = False: no full COUNT


def test_default_order_is_newest_first_not_a_computed_column(admin_client: Any,
                                                            world: World) -> None:
    response = admin_client.get(CHANGELIST)
    cl = response.context["cl"]
    ordering = cl.get_ordering(response.wsgi_request, cl.queryset)
    assert ordering[0] == "-updated_at"
    assert not any("_message_count" in o or "_total" in o for o in ordering)


@pytest.mark.django_db
def test_session_updated_index_migrated() -> None:
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, Session._meta.db_table)
    assert "session_updated_id" in indexes


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search")
def test_postgres_search_is_one_union_of_capped_branches(world: World,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with CaptureQueriesContext(connection) as queries:
        result = admin_search.session_search(Session.objects.all(), "refund")
    # The union runs once, here; the changelist then reads an id list (three times).
    assert len(queries.captured_queries) == 1
    sql = queries.captured_queries[0]["sql"]
    assert sql.count("UNION") == 2
    assert " OR " not in sql
    assert "UNION" not in str(result.query)
    assert set(result.values_list("title", flat=True)) == {"Web chat"}
    # The newest SEARCH_CAP matches of each kind; in newest-first order the pages are exact.
    monkeypatch.setattr(admin_search, "SEARCH_CAP", 2)
    for i in range(4):
        make_session(world.a, world.agent_a, f"refund case {i}", {}, messages=0)
    found = list(admin_search.session_search(Session.objects.all(), "refund")
                 .order_by("-updated_at", "-id").values_list("title", flat=True))
    # Two newest by title, plus the two newest by message content ("refund please").
    assert found[:2] == ["refund case 3", "refund case 2"]
    assert "Web chat" in found and len(found) <= 6
