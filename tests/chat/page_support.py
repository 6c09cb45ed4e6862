"""Helpers for the chat page's Chromium tests (tests/chat/test_page.py): the browser, the two
viewports (desktop and a 390×844 phone), a member with the demo agent, screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from agents.models import Agent, Prompt
from agents.services import agent_create, agent_version_create, demo_agent_ensure
from promptrails.models import Membership, Workspace
from tests.live import ROOT
from tests.support.live import ensure_local_model

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("PROMPTRAILS_TEST_OUTPUT", ROOT / "var" / "test-output")) / "page"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "wonderland-123"


def launch_browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still synchronous, so Django's async-safety check must not trip over that loop.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    try:
        with sync_playwright() as p:
            launched = p.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync"],
            )
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def new_context(browser: Browser, viewport: str) -> BrowserContext:
    context = browser.new_context(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
    context.set_default_timeout(15000)
    return context


def member(django_user_model: Any, workspace: Workspace, username: str = "alice",
           role: str = Membership.Role.MEMBER, **extra: Any) -> Any:
    user = django_user_model.objects.create_user(username, password=PASSWORD, **extra)
    Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


def demo_workspace(name: str = "Page workspace") -> tuple[Workspace, Agent]:
    ensure_local_model()
    workspace = Workspace.objects.create(name=name)
    return workspace, demo_agent_ensure(workspace=workspace)


def strict_agent(workspace: Workspace, name: str = "Strict agent") -> Agent:
    """The demo prompt and tools on the offline model, allowed one tool call a turn: a turn
    that asks for two fails ("tool call budget exhausted") before writing a word."""
    demo = demo_agent_ensure(workspace=workspace)
    version = demo.versions.get(is_current=True)
    agent = agent_create(workspace=workspace, name=name)
    prompt = Prompt.objects.get(workspace=workspace, name="Demo assistant")
    agent_version_create(
        agent=agent, config={"type": "agent", "prompt_id": prompt.pk}, set_current=True,
        model_config={"model_id": "echo"}, run_budget={"max_tool_calls": 1},
        tools=[{"mcp_tool_id": link.tool_id, "sort_order": i}
               for i, link in enumerate(version.tool_links.all())],
    )
    return agent


def sign_in(page: Page, url: str, username: str = "alice") -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#composer")).to_be_visible()
    expect(page.locator("#agent option").first).to_be_attached()


def open_sidebar(page: Page) -> None:
    """On a phone the chat list slides in on demand; on a desktop it is open."""
    expect(page.locator(".app[data-ready]")).to_have_count(1)  # the page has started
    if page.locator("#toggle-sidebar").get_attribute("aria-expanded") != "true":
        page.click("#toggle-sidebar")
    expect(page.locator("#new-chat")).to_be_in_viewport(ratio=1)  # slid in all the way


def send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def reply_done(page: Page) -> None:
    """The turn sent last has ended (Send is disabled from Enter until then)."""
    expect(page.locator("#send")).to_be_enabled(timeout=20000)
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator(".msg.assistant.streaming")).to_have_count(0)
    expect(page.locator(".msg.user.pending")).to_have_count(0)


def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"))
