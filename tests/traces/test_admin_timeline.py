"""The trace timeline inline on the execution admin page (wired in by the test)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from executions.admin_traces import TraceTimelineInline, timeline_rows
from executions.models import Execution, Span
from tests.traces.support import Chat


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin.site._registry[Execution], "inlines", (TraceTimelineInline,))


@pytest.fixture
def superuser_client(client: Any, transactional_db: None) -> Any:
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_timeline_rows_are_scaled_to_the_turn(chat: Chat) -> None:
    execution = chat.send(chat.session())
    timeline = timeline_rows(execution)
    rows = timeline["rows"]
    assert [r["span"].kind for r in rows] == ["agent", "llm", "tool", "llm"]
    root = rows[0]
    assert float(root["left"]) == 0.0 and float(root["width"]) >= 99.0
    for row in rows:
        left, width = float(row["left"]), float(row["width"])
        assert 0 <= left <= 100 and 0 < width and left + width <= 100.5
    assert rows[2]["summary"] == "6*7 = 42" and rows[2]["tokens"] is None
    assert rows[1]["tokens"] == rows[1]["span"].total_tokens
    assert timeline["trace_id"] == execution.trace_id


def test_execution_page_shows_the_trace(chat: Chat, wired: None, superuser_client: Any
                                        ) -> None:
    execution = chat.send(chat.session())
    url = reverse("admin:executions_execution_change", args=[execution.pk])
    response = superuser_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert execution.trace_id in html
    span_ids = re.findall(r'data-span-id="([0-9a-f]{16})"', html)
    assert sorted(span_ids) == sorted(
        Span.objects.filter(execution=execution).values_list("span_id", flat=True))
    assert "6*7 = 42" in html and "calculator" in html
    assert re.search(r'class="bar" style="left: 0\.00%; width: 100\.00%;"', html)
    assert "first token" in html


def test_execution_without_spans(chat: Chat, wired: None, superuser_client: Any) -> None:
    execution = Execution.objects.create(workspace=chat.tenant.workspace, agent_name="x")
    url = reverse("admin:executions_execution_change", args=[execution.pk])
    html = superuser_client.get(url).content.decode()
    assert "No spans recorded for this execution." in html
