"""The chat page marks where the session's rolling summary ends (headless Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from chat import services as chat_services
from chat.models import Session, Summary
from tests.chat.page_support import demo_workspace, launch_browser, member, new_context, sign_in
from tests.live import LiveServer

pytestmark = pytest.mark.browser  # drives Chromium (Playwright)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def page_server(live_server_factory: Any) -> LiveServer:
    return live_server_factory(PROMPTRAILS_RATE_LIMIT_LOGIN_PER_MINUTE="10000")


def test_divider_after_the_last_summarized_message(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any,
) -> None:
    workspace, demo = demo_workspace()
    member(django_user_model, workspace)
    session = chat_services.session_create(workspace=workspace, agent_id=demo.id,
                                           title="Long talk", metadata={}, user_id="alice")
    stored = [chat_services.message_store(session_id=session.id,
                                          role="user" if i % 2 == 0 else "assistant",
                                          content=f"line {i}") for i in range(4)]
    ids = sorted(m.id for m in stored)  # the page's order (ids sort by time)
    context = new_context(browser, "desktop")
    page = context.new_page()
    sign_in(page, page_server.url)
    page.goto(f"{page_server.url}/s/{session.id}")
    expect(page.locator(".msg")).to_have_count(4)
    expect(page.locator(".compacted")).to_have_count(0)  # no summary: no divider

    summary = Summary.objects.create(session=session, content="lines 0 and 1",
                                     covers_until_message_id=ids[1], messages_folded=2)
    Session.objects.filter(pk=session.pk).update(summary=summary)
    page.reload()
    divider = page.locator(".compacted")
    expect(divider).to_have_text("earlier messages summarized")
    # right after the second message, before the third
    expect(page.locator(f".msg[data-id='{ids[1]}'] + .compacted")).to_have_count(1)
    expect(page.locator(f".compacted + .msg[data-id='{ids[2]}']")).to_have_count(1)
    context.close()
