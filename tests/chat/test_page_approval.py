"""The chat page's Approve / Deny buttons for a tool call waiting for a person (Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from agents.services import approval_demo_agent_ensure
from chat.models import Message
from executions.models import Approval, Execution
from tests.chat.page_support import (
    demo_workspace,
    launch_browser,
    member,
    new_context,
    open_sidebar,
    send,
    shot,
    sign_in,
)
from tests.live import LiveServer
from tests.support.wait import wait_for

pytestmark = pytest.mark.browser  # drives Chromium (Playwright)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def page_server(live_server_factory: Any) -> LiveServer:
    return live_server_factory()


def test_approve_and_deny_on_the_page(browser: Browser, page_server: LiveServer,
                                      transactional_db: None, django_user_model: Any) -> None:
    workspace, _ = demo_workspace("Approval page")
    gated = approval_demo_agent_ensure(workspace=workspace)
    member(django_user_model, workspace)
    context = new_context(browser, "desktop")
    page = context.new_page()
    sign_in(page, page_server.url)
    open_sidebar(page)
    page.select_option("#agent", gated.id)

    send(page, '/tool calculator {"expression": "6*7"}')
    box = page.locator(".msg.assistant .approval")
    expect(box).to_contain_text("calculator")
    expect(box).to_contain_text('"expression":"6*7"')
    shot(page, "approval-waiting-desktop")
    assert Execution.objects.get(agent=gated).status == "waiting_approval"
    box.locator("button.approve").click()
    expect(page.locator(".msg.assistant .body").last).to_contain_text("6*7 = 42")
    expect(box).to_have_count(0)
    approval = Approval.objects.get(execution__agent=gated)
    assert approval.status == "approved" and approval.decided_by == "user:alice"

    # a reload while parked shows the buttons again (replayed); Deny tells the model
    expect(page.locator("#send")).to_be_enabled(timeout=20000)
    send(page, '/tool calculator {"expression": "1+1"}')
    expect(box).to_be_visible()
    page.reload()
    expect(box).to_be_visible()
    box.locator("button.deny").click()
    expect(page.locator(".msg.assistant .body").last).to_contain_text("denied by a reviewer")
    expect(box).to_have_count(0)
    replies = Message.objects.filter(role="assistant", session__workspace=workspace)
    # the page shows the streamed text before the turn's end is stored
    wait_for(lambda: replies.count() == 2, what="both replies stored")
    context.close()
