"""A page on another origin chats through a browser key, in headless Chromium (Debian's
chromium, driven by Playwright): token, session, a streamed turn with tool events, history,
feedback, a reload that resumes from localStorage, a new session that revokes the old one,
and a page on an origin the key does not list, which CORS keeps out."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from browser.models import BrowserSession
from chat.models import Feedback, Session
from tests.browser.support import make_browser_key
from tests.live import free_port

pytestmark = pytest.mark.browser  # drives Chromium (Playwright)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE_DIR = Path(__file__).parent / "page"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The shop: static files on http://localhost:<port>, another origin than the API's
    http://127.0.0.1:<port>."""
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(PAGE_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the test's ORM calls are
    # synchronous all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update"])
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_the_widget_contract_in_chromium(chromium: Browser, site: str, browser_server: Any,
                                         transactional_db: None) -> None:
    key = make_browser_key("Shop", origins=(site,))
    url = f"{site}/index.html?key={key.raw}&agent={key.agent_id}&api={browser_server.url}"
    context = chromium.new_context()
    page = context.new_page()
    page.goto(url)
    assert page.evaluate("chat.ready") == 0  # nothing stored yet

    events = page.evaluate("chat.send('what is 12*(3+4)?', {path: '/checkout'})")
    names = [e["event"] for e in events]
    assert names[0] == "execution" and names[-1] == "done", names
    assert {"tool_start", "tool_end", "content"} <= set(names)
    expect(page.locator("#tools li")).to_have_text(["calculator"])
    expect(page.locator(".msg.assistant")).to_contain_text("84")
    execution_id = events[0]["data"]["execution_id"]
    page.evaluate("([id, v]) => chat.feedback(id, v)", [execution_id, 1])
    assert Feedback.objects.get(execution_id=execution_id).value == 1

    first_id = page.evaluate("chat.runtime.sessionId")
    session = Session.objects.get(pk=first_id)
    assert session.metadata == {"channel": "browser_widget"}
    assert session.messages.get(role="user").metadata == {"client_context": {"path": "/checkout"}}
    stored = page.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0]))")
    assert stored["sessionId"] == first_id and len(stored["resumeToken"]) >= 32
    bearer = page.evaluate("chat.runtime.bearer")
    assert bearer and bearer not in page.evaluate("JSON.stringify(localStorage)")

    # a reload resumes the same session from localStorage, with its history
    page.reload()
    assert page.evaluate("chat.ready") == 2
    assert page.evaluate("chat.runtime.sessionId") == first_id
    expect(page.locator(".msg")).to_have_count(2)
    expect(page.locator(".msg.assistant")).to_contain_text("84")
    assert page.evaluate("chat.runtime.listMessages()")[1]["executionId"] == execution_id

    # a new session revokes the old one on the server
    old_resume = stored["resumeToken"]
    page.evaluate("chat.newSession()")
    page.evaluate("chat.send('hello again')")
    second_id = page.evaluate("chat.runtime.sessionId")
    assert second_id and second_id != first_id
    assert BrowserSession.objects.get(session_id=first_id).revoked_at is not None
    status = page.evaluate(
        """async ([api, id, resume]) => (await fetch(`${api}/api/v1/browser/chat/sessions/${id}`
             + '/messages', {headers: {Authorization: `Bearer ${chat.runtime.bearer}`,
                                       'X-Chat-Resume-Token': resume}})).status""",
        [browser_server.url, first_id, old_resume])
    assert status == 403
    page.reload()
    assert page.evaluate("chat.ready") == 2  # the new session's turn
    assert page.evaluate("chat.runtime.sessionId") == second_id
    context.close()


def test_a_page_on_an_unlisted_origin_is_kept_out_by_cors(
        chromium: Browser, site: str, browser_server: Any, transactional_db: None) -> None:
    key = make_browser_key("Elsewhere", origins=("https://shop.example",))
    page = chromium.new_page()
    page.goto(f"{site}/index.html?key={key.raw}&agent={key.agent_id}&api={browser_server.url}")
    page.evaluate("chat.ready")
    failure = page.evaluate(
        "chat.runtime.ensureToken().then(() => 'token', (e) => `${e.status} ${e.message}`)")
    assert failure.startswith("0 ")  # the browser refused to let the page read the answer
    assert not Session.objects.exists()
    page.close()
