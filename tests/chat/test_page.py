"""The chat page as a person uses it, in headless Chromium, on a desktop and a 390×844 phone.

Screenshots go to var/test-output/page/ (PROMPTRAILS_TEST_OUTPUT overrides var/test-output).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.db import connection
from playwright.sync_api import Browser, Page, Route, expect

from chat import services as chat_services
from chat.models import Feedback, Message, Session
from promptrails.models import Membership
from promptrails.services import demo_user_ensure, signin_link_token
from tests.chat.page_support import (
    VIEWPORTS,
    demo_workspace,
    launch_browser,
    member,
    new_context,
    open_sidebar,
    reply_done,
    send,
    shot,
    sign_in,
    strict_agent,
)
from tests.live import ROOT, LiveServer, database_url
from tests.support.live import ensure_local_model
from tests.support.wait import wait_for

pytestmark = pytest.mark.browser  # drives Chromium (Playwright)

LONG = " ".join(f"word{i}" for i in range(90))
SESSION_URL = re.compile(r"/s/[0-9A-Za-z]{27}$")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def page_server(live_server_factory: Any) -> LiveServer:
    """80 ms a word: a long reply (30 words) runs long enough to stop or reload it."""
    # many sign-ins a minute from one address (the limit: tests/promptrails/test_ratelimit.py)
    return live_server_factory(PROMPTRAILS_LOCAL_MODEL_DELAY="0.08",
                               PROMPTRAILS_RATE_LIMIT_LOGIN_PER_MINUTE="10000")


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def close_sidebar_on_phone(page: Page, viewport: str) -> None:
    if viewport == "phone":
        page.keyboard.press("Escape")
        expect(page.locator("#sessions")).not_to_be_in_viewport()


def choose_agent(page: Page, viewport: str, agent_id: str) -> None:
    open_sidebar(page)
    page.select_option("#agent", agent_id)
    close_sidebar_on_phone(page, viewport)


def make_session(workspace: Any, agent: Any, title: str, user_id: str | None) -> Session:
    return chat_services.session_create(workspace=workspace, agent_id=agent.id, title=title,
                                        metadata={}, user_id=user_id)


# --- 1. getting in ----------------------------------------------------------------------------

def test_newcomer_bootstrap_link_to_first_streamed_reply(
    browser: Browser, page_server: LiveServer, transactional_db: None, viewport: str,
) -> None:
    """Fresh database → `bootstrap` → the printed sign-in link → a streamed reply."""
    ensure_local_model()
    port = page_server.url.rsplit(":", 1)[1]
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
           "HOST": "127.0.0.1", "PORT": port}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = subprocess.run([sys.executable, "manage.py", "bootstrap"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    base = re.search(r"^base_url:\s+(\S+)", out, re.M)
    assert base is not None and base.group(1) == page_server.url, out  # the SDK's base_url
    link = re.search(r"^Chat page:\s+(\S+/signin/\S+)", out, re.M)
    assert link is not None, out

    context = new_context(browser, viewport)
    page = context.new_page()
    streams: list[Any] = []
    page.on("response", lambda r: streams.append(r) if r.url.endswith("/messages/stream") else None)
    page.goto(link.group(1))
    expect(page).to_have_url(f"{page_server.url}/")
    expect(page.locator("#chat-title")).to_have_text("New chat")
    expect(page.locator("#agent option").first).to_be_attached()  # the agents have loaded
    send(page, "hello from a newcomer")
    expect(page.locator(".msg.assistant .body").last).to_contain_text("hello from a newcomer")
    reply_done(page)
    assert [(r.status, r.headers["content-type"]) for r in streams] == \
        [(200, "text/event-stream")]  # the reply came as a stream
    expect(page).to_have_url(SESSION_URL)
    session = Session.objects.get()
    assert session.user_id == "demo"
    assert session.title.startswith("hello from a newcomer") and len(session.title) <= 60
    expect(page.locator("#chat-title")).to_have_text(session.title)
    shot(page, f"newcomer-{viewport}")

    again = new_context(browser, viewport).new_page()   # the link works once
    again.goto(link.group(1))
    expect(again.locator(".error")).to_contain_text("expired or was already used")
    expect(again.locator("#composer")).to_have_count(0)
    shot(again, f"signin-link-used-{viewport}")
    again.context.close()
    context.close()


@pytest.mark.django_db
def test_signin_links_are_single_use_short_lived_and_unforgeable(client: Any) -> None:
    workspace, _ = demo_workspace()
    user = demo_user_ensure(workspace=workspace)
    assert Membership.objects.get(user=user).workspace == workspace
    assert not user.has_usable_password()
    first = signin_link_token(user=user, lifetime=timedelta(minutes=5))
    second = signin_link_token(user=user, lifetime=timedelta(minutes=5))
    expired = signin_link_token(user=user, lifetime=timedelta(seconds=-1))
    assert client.get(f"/signin/{expired}").status_code == 400
    assert client.get(f"/signin/{first[:-2]}xx").status_code == 400
    response = client.get(f"/signin/{first}")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.logout()
    for used in (first, second):  # redeeming one ends it and every link issued before
        assert client.get(f"/signin/{used}").status_code == 400
    assert client.head(f"/signin/{signin_link_token(user=user, lifetime=timedelta(minutes=5))}"
                       ).status_code == 405  # a HEAD (a link preview) never spends it


@pytest.mark.django_db
def test_bootstrap_prints_the_sdk_base_url_and_a_signin_link(capsys: Any) -> None:
    ensure_local_model()
    call_command("bootstrap", "--workspace", "Boot page")
    out = capsys.readouterr().out
    assert re.search(r"^base_url:\s+http://127\.0\.0\.1:\d+\s", out, re.M), out
    assert "/api/v1" not in out
    assert re.search(r"^Chat page:\s+http://127\.0\.0\.1:\d+/signin/\S+$", out, re.M), out


def test_login_page_favicon_and_a_superuser_without_membership(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any, viewport: str,
) -> None:
    url = page_server.url
    icon = httpx.get(f"{url}/favicon.ico", follow_redirects=True, timeout=10)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-1234567")
    context = new_context(browser, viewport)
    page = context.new_page()
    page.goto(f"{url}/login")
    expect(page.locator(".help")).to_contain_text("manage.py bootstrap")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("Wrong username or password.")
    expect(page.locator("input[name=username]")).to_have_value("root")  # kept
    shot(page, f"login-wrong-password-{viewport}")
    page.fill("input[name=password]", "pw-1234567")
    page.click("button[type=submit]")
    add = page.locator("#add-membership")
    expect(add).to_have_attribute("href", f"/admin/promptrails/membership/add/?user={root.pk}")
    shot(page, f"no-membership-{viewport}")
    add.click()
    expect(page.locator("#membership_form")).to_be_visible()
    expect(page.locator("#id_user")).to_have_value(str(root.pk))
    context.close()


# --- 2. links name the session ------------------------------------------------------------------

def test_links_and_reloads_open_the_named_session(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any, viewport: str,
) -> None:
    workspace, demo = demo_workspace()
    newer = strict_agent(workspace, "Newer agent")  # the newest agent, not the session's
    member(django_user_model, workspace)
    session = make_session(workspace, demo, "About the demo", "alice")
    chat_services.message_store(session_id=session.id, role="user", content="an earlier question")
    url = page_server.url
    context = new_context(browser, viewport)
    page = context.new_page()
    sign_in(page, url)
    page.goto(f"{url}/s/{session.id}")
    expect(page.locator("#chat-title")).to_have_text("About the demo")
    expect(page.locator(".msg.user .body")).to_have_text("an earlier question")
    assert page.locator("#agent").input_value() == demo.id != newer.id

    page.goto(f"{url}/#{session.id}")  # the old form of a link
    expect(page).to_have_url(f"{url}/s/{session.id}")
    expect(page.locator("#chat-title")).to_have_text("About the demo")

    send(page, LONG)  # reload mid-reply: the same session, the reply goes on, once
    expect(page.locator(".msg.assistant.streaming .body")).to_contain_text("word1")
    page.reload()
    expect(page).to_have_url(f"{url}/s/{session.id}")
    expect(page.locator(".msg.assistant.streaming")).to_have_count(1)
    reply_done(page)
    stored = Message.objects.filter(session=session, role="assistant").get()
    expect(page.locator(".msg.assistant .body").last).to_have_text(stored.content)
    assert page.locator(".msg.user", has_text="word89").count() == 1

    other = make_session(workspace, newer, "Second chat", "alice")
    page.goto(f"{url}/s/{other.id}")
    expect(page.locator("#chat-title")).to_have_text("Second chat")
    assert page.locator("#agent").input_value() == newer.id
    open_sidebar(page)  # the list opens chats by their links; Back goes back
    page.click(f"#sessions li[data-id='{session.id}'] a")
    expect(page).to_have_url(f"{url}/s/{session.id}")
    expect(page.locator("#chat-title")).to_have_text("About the demo")
    page.go_back()
    expect(page).to_have_url(f"{url}/s/{other.id}")
    expect(page.locator("#chat-title")).to_have_text("Second chat")
    shot(page, f"session-link-{viewport}")

    page.goto(f"{url}/s/{'x' * 27}")
    expect(page.locator("#status")).to_contain_text("not found")
    expect(page.locator("#chat-title")).to_have_text("New chat")
    context.close()


# --- 3. no session open: typing starts one; text is never lost ----------------------------------

def test_typing_with_no_chat_open_starts_one_and_text_is_never_lost(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any, viewport: str,
) -> None:
    workspace, _ = demo_workspace()
    member(django_user_model, workspace)
    context = new_context(browser, viewport)
    page = context.new_page()
    sign_in(page, page_server.url)
    expect(page.locator("#input")).to_be_visible()
    page.fill("#input", "a draft that survives a reload")
    page.reload()
    expect(page.locator("#input")).to_have_value("a draft that survives a reload")
    page.press("#input", "Enter")
    reply_done(page)
    expect(page).to_have_url(SESSION_URL)
    session = Session.objects.get()
    assert (session.title, session.user_id) == ("a draft that survives a reload", "alice")
    open_sidebar(page)
    expect(page.locator("#sessions li.active .title")).to_have_text(session.title)
    close_sidebar_on_phone(page, viewport)

    Session.objects.all().delete()  # gone under the page: the send fails, the text stays
    send(page, "this text must not be lost")
    expect(page.locator("#status")).to_contain_text("Not sent: Chat session not found.")
    expect(page.locator("#input")).to_have_value("this text must not be lost")
    expect(page.locator(".msg.user.pending")).to_have_count(0)
    shot(page, f"text-kept-on-error-{viewport}")
    context.close()


# --- 4. failed and stopped turns ------------------------------------------------------------------

def test_failed_and_stopped_turns_show_after_reload_with_retry(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any, viewport: str,
) -> None:
    workspace, demo = demo_workspace()
    strict = strict_agent(workspace)
    member(django_user_model, workspace)
    context = new_context(browser, viewport)
    page = context.new_page()
    sign_in(page, page_server.url)
    choose_agent(page, viewport, strict.id)
    send(page, "what is 2+2 and what time is it in UTC?")
    failed = page.locator(".msg.assistant.failed .notice")
    expect(failed).to_contain_text("tool call budget exhausted")
    page.reload()
    expect(failed).to_contain_text("The reply failed: tool call budget exhausted")
    expect(failed.locator("button.retry")).to_be_visible()
    shot(page, f"failed-after-reload-{viewport}")

    page.goto(f"{page_server.url}/")
    choose_agent(page, viewport, demo.id)
    send(page, LONG)
    expect(page.locator(".msg.assistant.streaming .body")).to_contain_text("word1")
    page.click("#stop")
    stopped = page.locator(".msg.assistant.stopped .notice")
    expect(stopped).to_have_text(re.compile(r"^Stopped\."))
    expect(page.locator(".msg.assistant.failed")).to_have_count(0)
    page.reload()
    expect(stopped).to_have_text(re.compile(r"^Stopped\."))
    expect(page.locator(".msg.assistant.failed")).to_have_count(0)
    shot(page, f"stopped-after-reload-{viewport}")
    stopped.locator("button.retry").click()  # sends the same message again
    expect(page.locator(".msg.user", has_text="word89")).to_have_count(2)
    reply_done(page)
    expect(page.locator(".msg.assistant").last).not_to_have_class(re.compile("stopped|failed"))
    assert Message.objects.filter(role="user", content=LONG).count() == 2
    context.close()


def test_a_chat_list_opened_while_the_page_starts_stays_open(
    browser: Browser, page_server: LiveServer, transactional_db: None, django_user_model: Any,
) -> None:
    """On a phone, a tap on the menu while the page still loads its agents is not undone when
    the page finishes starting (it used to close the list again)."""
    workspace, _ = demo_workspace()
    member(django_user_model, workspace)
    context = new_context(browser, "phone")
    page = context.new_page()
    sign_in(page, page_server.url)
    held: list[Route] = []
    page.route("**/api/v1/agents?*", lambda route: held.append(route))
    page.goto(f"{page_server.url}/")

    def asked() -> bool:
        page.wait_for_timeout(50)  # lets Playwright deliver the route
        return bool(held)

    wait_for(asked, what="the page asking for its agents")
    expect(page.locator(".app[data-ready]")).to_have_count(0)  # still starting
    page.click("#toggle-sidebar")
    expect(page.locator("#new-chat")).to_be_in_viewport(ratio=1)
    held[0].continue_()
    expect(page.locator(".app[data-ready]")).to_have_count(1)
    expect(page.locator("#new-chat")).to_be_in_viewport(ratio=1)
    assert page.locator("#toggle-sidebar").get_attribute("aria-expanded") == "true"
    context.close()


# --- 5. a phone layout -------------------------------------------------------------------------

@pytest.mark.parametrize("width", [390, 360])
def test_phone_layout_collapsible_sidebar_and_full_width_chat(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any, width: int,
) -> None:
    workspace, demo = demo_workspace()
    member(django_user_model, workspace)
    session = make_session(workspace, demo, "Phone chat", "alice")
    context = browser.new_context(viewport={"width": width, "height": 844})
    page = context.new_page()
    sign_in(page, page_server.url)
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    composer = page.locator("#composer").bounding_box()
    assert composer is not None and composer["width"] >= width - 2
    page.click("#toggle-sidebar")
    expect(page.locator("#new-chat")).to_be_in_viewport(ratio=1)
    shot(page, f"phone-{width}-sidebar")
    page.click(f"#sessions li[data-id='{session.id}'] a")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    expect(page.locator("#chat-title")).to_have_text("Phone chat")
    send(page, "what is 12*(3+4)? " + " ".join(f"longword{i}" for i in range(40)))
    reply_done(page)
    for box in (page.locator(".msg").last.bounding_box(), page.locator("#send").bounding_box()):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
    shot(page, f"phone-{width}-chat")
    context.close()


def test_desktop_sidebar_collapses(
    browser: Browser, page_server: LiveServer, transactional_db: None, django_user_model: Any,
) -> None:
    workspace, _ = demo_workspace()
    member(django_user_model, workspace)
    context = new_context(browser, "desktop")
    page = context.new_page()
    sign_in(page, page_server.url)
    before = page.locator("#conversation").bounding_box()
    expect(page.locator("#sessions")).to_be_in_viewport()
    page.focus("#toggle-sidebar")
    page.keyboard.press("Enter")  # keyboard-usable
    expect(page.locator("#sidebar")).not_to_be_visible()
    after = page.locator("#conversation").bounding_box()
    assert before is not None and after is not None and after["width"] > before["width"] + 200
    expect(page.locator("#toggle-sidebar")).to_have_attribute("aria-expanded", "false")
    shot(page, "desktop-sidebar-collapsed")
    context.close()


# --- 6. what users expect ----------------------------------------------------------------------

CODE_REPLY = "Here it is:\n\n```python\ndef hello():\n    return 'hi'\n```\n\nand `inline`."


def test_rename_new_chat_thumbs_copy_code_timestamps_and_cost(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any, viewport: str,
) -> None:
    workspace, demo = demo_workspace()
    member(django_user_model, workspace)
    code_session = make_session(workspace, demo, "Code", "alice")
    chat_services.message_store(session_id=code_session.id, role="user", content="code please")
    chat_services.message_store(session_id=code_session.id, role="assistant",
                                content=CODE_REPLY, model="echo", token_count=42, cost=0.0123)
    url = page_server.url
    context = new_context(browser, viewport)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    sign_in(page, url)
    send(page, "what is 12*(3+4)?")
    reply_done(page)
    reply = page.locator(".msg.assistant").last
    expect(reply.locator(".usage")).to_contain_text(re.compile(r"echo · \d+ tokens .* · \$"))
    expect(reply.locator("time[datetime]")).to_have_count(1)
    expect(page.locator(".msg.user").last.locator("time[datetime]")).to_have_count(1)
    session = Session.objects.exclude(pk=code_session.pk).get()
    stored = Message.objects.get(session=session, role="assistant")

    reply.locator(".copy-reply").click()
    expect(reply.locator(".copy-reply")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == stored.content

    reply.locator(".thumb.up").click()
    expect(reply.locator(".thumb.up")).to_have_attribute("aria-pressed", "true")
    assert Feedback.objects.get(session=session).value == 1
    page.reload()
    reply = page.locator(".msg.assistant").last
    expect(reply.locator(".thumb.up")).to_have_attribute("aria-pressed", "true")
    reply.locator(".thumb.down").click()
    expect(reply.locator(".thumb.down")).to_have_attribute("aria-pressed", "true")
    expect(reply.locator(".thumb.up")).to_have_attribute("aria-pressed", "false")
    assert Feedback.objects.get(session=session).value == -1
    shot(page, f"reply-actions-{viewport}")

    page.click("#rename")
    page.fill(".rename-field", "Arithmetic")
    page.press(".rename-field", "Enter")
    expect(page.locator("#chat-title")).to_have_text("Arithmetic")
    open_sidebar(page)
    expect(page.locator("#sessions li.active .title")).to_have_text("Arithmetic")
    session.refresh_from_db()
    assert session.title == "Arithmetic"

    page.click("#new-chat")
    expect(page).to_have_url(f"{url}/")
    expect(page.locator("#conversation .msg")).to_have_count(0)
    expect(page.locator("#chat-title")).to_have_text("New chat")
    send(page, "a second chat")
    reply_done(page)
    assert Session.objects.filter(title="a second chat", user_id="alice").count() == 1

    page.goto(f"{url}/s/{code_session.id}")
    code = page.locator(".msg.assistant .code")
    expect(code.locator(".lang")).to_have_text("python")
    expect(code.locator(".token.keyword").first).to_have_text("def")  # highlighted
    expect(page.locator(".msg.assistant .usage")).to_contain_text("42 tokens")
    expect(page.locator(".msg.assistant .usage")).to_contain_text("$0.01")
    code.locator(".copy-code").click()
    assert page.evaluate("navigator.clipboard.readText()").strip() == \
        "def hello():\n    return 'hi'"
    shot(page, f"code-block-{viewport}")
    context.close()


def test_sidebar_lists_my_chats_search_and_all_for_staff(
    browser: Browser, page_server: LiveServer, transactional_db: None,
    django_user_model: Any, viewport: str,
) -> None:
    workspace, demo = demo_workspace()
    member(django_user_model, workspace, "alice", role=Membership.Role.ADMIN)
    member(django_user_model, workspace, "bob")
    make_session(workspace, demo, "Invoice question", "alice")
    make_session(workspace, demo, "Holiday plans", "alice")
    make_session(workspace, demo, "From the SDK", None)
    make_session(workspace, demo, "Bob's chat", "bob")
    url = page_server.url
    context = new_context(browser, viewport)
    page = context.new_page()
    sign_in(page, url)
    open_sidebar(page)
    titles = page.locator("#sessions li .title")
    expect(titles).to_have_text(["Holiday plans", "Invoice question"])
    page.fill("#search", "invoice")
    expect(titles).to_have_text(["Invoice question"])
    page.fill("#search", "")
    expect(titles).to_have_count(2)
    page.check("#show-all")
    expect(titles).to_have_count(4)
    shot(page, f"all-sessions-{viewport}")
    context.close()

    context = new_context(browser, viewport)
    page = context.new_page()
    sign_in(page, url, "bob")
    open_sidebar(page)
    expect(page.locator("#sessions li .title")).to_have_text(["Bob's chat"])
    expect(page.locator("#all-switch")).to_be_hidden()
    context.close()

