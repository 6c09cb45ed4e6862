"""The chat page in headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from agents.services import demo_agent_ensure
from chat.models import Message
from promptrails.models import Membership, Workspace
from tests.live import ROOT, LiveServer
from tests.support.live import ensure_local_model

pytestmark = pytest.mark.browser  # drives Chromium (Playwright)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("PROMPTRAILS_TEST_OUTPUT", ROOT / "var" / "test-output"))
LONG = " ".join(f"word{i}" for i in range(90))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still synchronous, so Django's async-safety check must not trip over that loop.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    try:
        yield from _browser()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page_server(live_server_factory: Any) -> LiveServer:
    """Slow enough (80 ms a word) that a reload lands mid-reply."""
    return live_server_factory(PROMPTRAILS_LOCAL_MODEL_DELAY="0.08")


@pytest.fixture
def member(page_server: LiveServer, transactional_db: None, django_user_model: Any) -> dict:
    ensure_local_model()
    workspace = Workspace.objects.create(name="Browser workspace")
    demo_agent_ensure(workspace=workspace)
    user = django_user_model.objects.create_user("alice", password="wonderland-123")
    Membership.objects.create(user=user, workspace=workspace)
    return {"server": page_server, "workspace": workspace}


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wonderland-123")
    page.click("button[type=submit]")
    expect(page.locator("#agent option")).to_have_count(1)


def send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def test_chat_page_end_to_end(browser: Browser, member: dict) -> None:
    url = member["server"].url
    page = browser.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, url)

    # a new session with metadata
    page.click("#new-session summary")
    page.fill("#new-session-form input[name=title]", "Browser test")
    page.click("#add-meta")
    page.fill(".meta-row .k", "channel")
    page.fill(".meta-row .v", "web")
    page.click("#new-session-form button[type=submit]")
    expect(page.locator("#sessions li.active .title")).to_have_text("Browser test")
    assert member["workspace"].sessions.get().metadata == {"channel": "web"}

    # a tool-using turn: the chip and the streamed reply
    send(page, "what is 12*(3+4)?")
    expect(page.locator(".chip")).to_have_text("calculator → 12*(3+4) = 84")
    expect(page.locator(".msg.assistant .body").last).to_contain_text("84", timeout=15000)
    expect(page.locator(".msg.assistant.streaming")).to_have_count(0, timeout=15000)

    # reload mid-reply: the reply continues, once, without duplicated text
    send(page, LONG)
    expect(page.locator(".msg.assistant.streaming .body")).to_contain_text("word1", timeout=10000)
    page.reload()
    expect(page.locator(".msg.assistant.streaming")).to_have_count(1, timeout=10000)
    expect(page.locator(".msg.assistant.streaming")).to_have_count(0, timeout=20000)
    stored = Message.objects.filter(role="assistant").order_by("-id").first()
    assert stored is not None and "word29" in stored.content
    expect(page.locator(".msg.assistant .body").last).to_have_text(stored.content)
    bodies = page.locator(".msg.assistant .body").all_inner_texts()
    assert sum("word29" in body for body in bodies) == 1, bodies
    assert bodies[-1].count("word1 ") == 1
    assert page.locator(".msg.user", has_text="word89").count() == 1

    # hostile markdown stays inert
    send(page, 'hi <img src=x onerror=alert(1)> and [click me](javascript:alert(2))')
    expect(page.locator(".msg.assistant.streaming")).to_have_count(0, timeout=15000)
    expect(page.locator(".msg.assistant .body").last).to_contain_text("onerror")
    assert page.locator("#conversation img").count() == 0
    hrefs = page.eval_on_selector_all("#conversation a", "els => els.map(e => e.href)")
    assert not [h for h in hrefs if re.match(r"\s*javascript:", h, re.I)]
    assert dialogs == []

    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "chat-page.png"), full_page=True)
    page.close()


def test_two_tabs_and_an_api_client_see_the_same_turns(browser: Browser, member: dict) -> None:
    import httpx

    from promptrails.services import api_key_create

    url = member["server"].url
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto(f"{url}/login") if page is first else None
    sign_in(first, url)
    first.click("#new-session summary")
    first.fill("#new-session-form input[name=title]", "Shared")
    first.click("#new-session-form button[type=submit]")
    expect(first.locator("#sessions li.active")).to_have_count(1)
    second.goto(url)
    second.click("#sessions li >> text=Shared")
    expect(second.locator("#composer")).to_be_visible()
    second.wait_for_timeout(300)  # the socket subscribes

    send(first, "hello from tab one")
    for page in (first, second):
        expect(page.locator(".msg.assistant .body").last).to_contain_text(
            "hello from tab one", timeout=15000)

    _, key = api_key_create(workspace=member["workspace"])
    session_id = member["workspace"].sessions.get().id
    response = httpx.post(f"{url}/api/v1/chat/sessions/{session_id}/messages",
                          json={"content": "hello from the API"}, headers={"X-API-Key": key},
                          timeout=30)
    assert response.status_code == 201
    for page in (first, second):
        expect(page.locator(".msg.user .body").last).to_have_text("hello from the API")
        expect(page.locator(".msg.assistant .body").last).to_contain_text(
            "hello from the API", timeout=15000)
    context.close()
