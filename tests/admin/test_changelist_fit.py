"""The session changelist at 1440 px in headless Chromium: every column, cost included, is
in view beside the filters (no column cut off behind a sideways scroll)."""

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


def test_cost_column_fits_at_1440(live_server: Any, transactional_db: None) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from agents.models import Agent
    from promptrails.models import Workspace

    ws = Workspace.objects.create(name="Acme customer support")
    agent = Agent.objects.create(workspace=ws, name="Support bot")
    for i in range(4):
        make_session(ws, agent, f"A fairly long session title number {i} about refunds",
                     {"channel": "web", "user_id": f"external-customer-{i}"}, messages=3,
                     content="Where is my parcel?")
    User.objects.create_superuser("fit", "fit@example.com", "pw-123456")
    out = Path(os.environ.get("ADMIN_SCREENSHOT_DIR", settings.BASE_DIR / "var/screenshots/admin"))
    out.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "fit")
        page.fill("#id_password", "pw-123456")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/chat/session/")
        fit = page.evaluate("""() => {
            const results = document.querySelector('#changelist-form .results');
            const cost = document.querySelector('#result_list th.column-cost');
            return {scroll: results.scrollWidth, client: results.clientWidth,
                    costRight: cost.getBoundingClientRect().right,
                    boxRight: results.getBoundingClientRect().right};
        }""")
        page.screenshot(path=str(out / "session_changelist_1440.png"))
        browser.close()
    assert fit["scroll"] <= fit["client"], fit
    assert fit["costRight"] <= fit["boxRight"] + 0.5, fit
