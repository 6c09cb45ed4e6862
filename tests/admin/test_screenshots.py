"""Browser screenshots of the session changelist and a session's page (headless Chromium).

Saved under var/screenshots/admin/ (override with ADMIN_SCREENSHOT_DIR); skipped where
Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from tests.admin.support import make_session

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")]


def test_screenshots(live_server: Any, transactional_db: None) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from agents.models import Agent
    from promptrails.models import Workspace

    ws = Workspace.objects.create(name="Acme support")
    agent = Agent.objects.create(workspace=ws, name="Support bot")
    for i in range(12):
        make_session(ws, agent, f"Order question #{i}",
                     {"channel": "web" if i % 3 else "email", "user_id": f"cust-{i % 4}",
                      "plan": "pro"}, messages=4, content="Where is my parcel? <b>bold?</b>")
    session = make_session(ws, agent, "Refund for order 1234",
                           {"channel": "web", "user_id": "cust-7"}, messages=6,
                           content="I would like a refund")
    User.objects.create_superuser("shot", "shot@example.com", "pw-123456")
    out = Path(os.environ.get("ADMIN_SCREENSHOT_DIR", settings.BASE_DIR / "var/screenshots/admin"))
    out.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "shot")
        page.fill("#id_password", "pw-123456")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/chat/session/?meta_key=channel")
        assert page.locator("#result_list").is_visible()
        page.screenshot(path=str(out / "session_changelist.png"), full_page=True)
        page.goto(f"{live_server.url}/admin/chat/session/{session.pk}/change/")
        assert page.locator(".conversation").is_visible()
        page.screenshot(path=str(out / "session_detail.png"), full_page=True)
        browser.close()
    assert (out / "session_changelist.png").stat().st_size > 10_000
    assert (out / "session_detail.png").stat().st_size > 10_000
