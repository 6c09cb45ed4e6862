from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from chat.admin_filters import encode_condition
from chat.models import Message, Session
from tests.admin.support import World, fb, make_session

CHANGELIST = "/admin/chat/session/"


def rows(response: Any) -> list[Session]:
    assert response.status_code == 200, response.content[:500]
    return list(response.context["cl"].result_list)


def titles(response: Any) -> set[str]:
    return {s.title for s in rows(response)}


def meta(*pairs: tuple[str, Any]) -> str:
    return urlencode([("meta", encode_condition(k, v)) for k, v in pairs])


def test_changelist_columns_and_annotations(admin_client: Any, world: World) -> None:
    response = admin_client.get(CHANGELIST)
    by_title = {s.title: s for s in rows(response)}
    web = by_title["Web chat"]
    assert web.message_count == 2
    assert web.total_tokens == 10 + 20
    assert web.total_cost == pytest.approx(0.25)
    html = response.content.decode()
    assert ">30<" in html and "0.2500" in html
    for header in ("messages", "last activity", "tokens", "cost (usd)", "external user"):
        assert header in html.lower()
    assert "ext-1" in html  # external user from metadata
    assert "Agent A" in html and "Workspace A" in html


def test_external_user_falls_back_to_user_id_field(admin_client: Any, world: World) -> None:
    make_session(world.a, world.agent_a, "Field user", {}, user_id="alice")
    make_session(world.a, world.agent_a, "Ext user", {"external_user_id": "bob"})
    html = admin_client.get(CHANGELIST).content.decode()
    assert "alice" in html and "bob" in html


def test_query_count_constant_in_rows(admin_client: Any, world: World,
                                      django_assert_max_num_queries: Any) -> None:
    admin_client.get(CHANGELIST)  # warm caches (content types, sessions)
    with django_assert_max_num_queries(12) as small:
        admin_client.get(CHANGELIST)
    for i in range(100):
        make_session(world.a, world.agent_a, f"bulk {i}", {"channel": "web", "n": i},
                     messages=2)
    with django_assert_max_num_queries(12) as large:
        response = admin_client.get(CHANGELIST)
    assert len(rows(response)) == 50
    assert len(large.captured_queries) == len(small.captured_queries)


def test_filter_workspace_agent_and_thumbs_down(admin_client: Any, world: World) -> None:
    assert titles(admin_client.get(f"{CHANGELIST}?workspace__id__exact={world.b.pk}")) == {
        "Secret B chat"}
    assert titles(admin_client.get(f"{CHANGELIST}?agent__id__exact={world.agent_a.pk}")) == {
        "Web chat", "App chat"}
    fb(world.sessions["app"], -1)
    fb(world.sessions["web"], 1)
    assert titles(admin_client.get(f"{CHANGELIST}?thumbs_down=yes")) == {"App chat"}
    assert "App chat" not in titles(admin_client.get(f"{CHANGELIST}?thumbs_down=no"))


def test_date_range_filters(admin_client: Any, world: World) -> None:
    old = world.sessions["app"]
    past = timezone.now() - timedelta(days=20)
    Session.objects.filter(pk=old.pk).update(created_at=past, updated_at=past)
    today = timezone.localdate().isoformat()
    week_ago = (timezone.localdate() - timedelta(days=6)).isoformat()
    recent = titles(admin_client.get(
        f"{CHANGELIST}?created_at__from={week_ago}&created_at__to={today}"))
    assert "App chat" not in recent and "Web chat" in recent
    day = past.date().isoformat()
    assert titles(admin_client.get(
        f"{CHANGELIST}?updated_at__from={day}&updated_at__to={day}")) == {"App chat"}
    response = admin_client.get(f"{CHANGELIST}?created_at__from=not-a-date")
    assert response.status_code in (200, 302)  # Django's "?e=1" for bad lookups, no 500


def test_metadata_filter_keys_values_and_and(admin_client: Any, world: World) -> None:
    response = admin_client.get(CHANGELIST)
    html = response.content.decode()
    for key in ("channel", "lang", "user_id", "tenant_b_key"):
        assert key in html  # superuser sees every workspace's keys
    response = admin_client.get(f"{CHANGELIST}?meta_key=channel")
    html = response.content.decode()
    assert "web <span class=\"quiet\">(2)</span>" in html
    assert "app <span class=\"quiet\">(1)</span>" in html
    assert titles(admin_client.get(f"{CHANGELIST}?{meta(('channel', 'web'))}")) == {
        "Web chat", "Secret B chat"}
    assert titles(admin_client.get(
        f"{CHANGELIST}?{meta(('channel', 'web'), ('user_id', 'ext-1'))}")) == {"Web chat"}
    assert titles(admin_client.get(
        f"{CHANGELIST}?{meta(('channel', 'web'), ('lang', 'en'))}")) == set()
    # Keys listed come from the current (filtered) result set.
    html = admin_client.get(f"{CHANGELIST}?{meta(('channel', 'app'))}").content.decode()
    assert "lang" in html and "tenant_b_key" not in html


@pytest.mark.parametrize("key,value", [
    ("plan name", "gold tier"),
    ("région", "Île-de-France ✓"),
    ("x'); DROP TABLE chat_session; --", "1' OR '1'='1"),
    ('quote"key', 'quote"value'),
    ("a.b", "dotted"),
    ("number", 42),
    ("flag", True),
])
def test_metadata_filter_odd_keys_and_values(admin_client: Any, world: World, key: str,
                                             value: Any) -> None:
    make_session(world.a, world.agent_a, "Odd", {key: value, "other": "x"})
    make_session(world.a, world.agent_a, "Decoy", {key: "something else", "other": "x"})
    html = admin_client.get(f"{CHANGELIST}?{urlencode({'meta_key': key})}").content.decode()
    assert "Odd" in html
    values = [c for c in _filter_choices(admin_client, {"meta_key": key})
              if c.get("kind") == "value"]
    assert {c["count"] for c in values} == {1}
    assert len(values) == 2
    assert titles(admin_client.get(f"{CHANGELIST}?{meta((key, value))}")) == {"Odd"}
    assert Session.objects.count() == 5  # nothing dropped


def _filter_choices(client: Any, params: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(f"{CHANGELIST}?{urlencode(params)}")
    cl = response.context["cl"]
    spec = next(s for s in cl.filter_specs if s.title == "metadata")
    return list(spec.choices(cl))


def test_search_title_metadata_and_content(admin_client: Any, world: World) -> None:
    assert "Web chat" in titles(admin_client.get(f"{CHANGELIST}?q=web"))
    assert titles(admin_client.get(f"{CHANGELIST}?q=ext-1")) == {"Web chat"}
    assert titles(admin_client.get(f"{CHANGELIST}?q=parcel")) == {"App chat"}
    assert titles(admin_client.get(f"{CHANGELIST}?q=refund")) == {"Web chat"}
    assert titles(admin_client.get(f"{CHANGELIST}?q=nothing-like-this")) == set()


def test_detail_shows_conversation_escaped_with_feedback(admin_client: Any,
                                                         world: World) -> None:
    session = make_session(world.a, world.agent_a, "XSS", {"k": "v"}, messages=2,
                           content="<script>alert(1)</script>")
    Message.objects.filter(session=session, role="assistant").update(
        tool_calls=[{"id": "c1", "name": "calculator", "arguments": {"x": 1}}],
        tool_results=[{"id": "c1", "name": "calculator", "result": "2"}],
    )
    fb(session, -1)
    response = admin_client.get(reverse("admin:chat_session_change", args=[session.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 0" in html
    assert html.index("alert(1)&lt;/script&gt; 0") < html.index("alert(1)&lt;/script&gt; 1")
    assert "feedback-down" in html
    assert "<details><summary>Tool calls</summary>" in html
    execution_id = Message.objects.get(session=session, role="assistant").execution_id
    assert reverse("admin:executions_execution_change", args=[execution_id]) in html
    assert "&quot;k&quot;: &quot;v&quot;" in html  # metadata pretty-printed in the textarea


def test_metadata_edit_validation(admin_client: Any, world: World) -> None:
    session = world.sessions["web"]
    url = reverse("admin:chat_session_change", args=[session.pk])
    bad = admin_client.post(url, {"title": "t", "metadata": "[1, 2]"})
    assert bad.status_code == 200 and "must be a JSON object" in bad.content.decode()
    broken = admin_client.post(url, {"title": "t", "metadata": "{not json"})
    assert broken.status_code == 200
    session.refresh_from_db()
    assert session.metadata["channel"] == "web"
    ok = admin_client.post(url, {"title": "renamed", "metadata": '{"channel": "email"}'})
    assert ok.status_code == 302
    session.refresh_from_db()
    assert session.metadata == {"channel": "email"} and session.title == "renamed"


def test_export_streams_sessions_with_messages(admin_client: Any, world: World) -> None:
    session = make_session(world.a, world.agent_a, "Long", {}, messages=7, content="m")
    ids = [session.pk, world.sessions["web"].pk]
    response = admin_client.post(CHANGELIST, {"action": "export_json",
                                              "_selected_action": ids})
    assert isinstance(response, StreamingHttpResponse)
    data = json.loads(response.getvalue())  # the streamed body, joined
    assert {s["id"] for s in data} == set(ids)
    long = next(s for s in data if s["id"] == session.pk)
    assert [m["content"] for m in long["messages"]] == [f"m {i}" for i in range(7)]
    assert long["messages"][1]["role"] == "assistant"


def test_delete_action(admin_client: Any, world: World) -> None:
    pk = world.sessions["app"].pk
    response = admin_client.post(CHANGELIST, {"action": "delete_selected",
                                              "_selected_action": [pk], "post": "yes"})
    assert response.status_code == 302
    assert not Session.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("column,field", [(5, "message_count"), (7, "total_tokens"),
                                          (8, "total_cost")])
def test_sort_by_running_totals_both_ways(admin_client: Any, world: World, column: int,
                                          field: str) -> None:
    for title, n in (("few", 2), ("many", 6), ("none", 0), ("tie", 2)):
        make_session(world.a, world.agent_a, title, {}, messages=n)
    ascending = rows(admin_client.get(f"{CHANGELIST}?o={column}"))
    descending = rows(admin_client.get(f"{CHANGELIST}?o=-{column}"))
    values = [getattr(s, field) for s in ascending]
    assert values == sorted(values)
    titles_up = [s.title for s in ascending]
    assert titles_up.index("none") < titles_up.index("few") < titles_up.index("many")
    # Ties are broken by id in the sort's own direction: one (column, id) index serves both.
    assert [s.pk for s in descending] == [s.pk for s in reversed(ascending)]
