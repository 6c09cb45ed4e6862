from __future__ import annotations

import pytest

from tests.browser.support import BrowserKey, Page, make_browser_key
from tests.fixtures.live import ServerFactory
from tests.live import LiveServer


@pytest.fixture
def bkey(transactional_db: None) -> BrowserKey:
    return make_browser_key()


@pytest.fixture
def page(bkey: BrowserKey) -> Page:
    return Page(bkey.raw, bkey.agent_id)


@pytest.fixture(scope="session")
def browser_server(live_server_factory: ServerFactory) -> LiveServer:
    """A live server whose local model takes 40 ms a word (a reply can be caught mid-way)
    and whose open browser streams look for a revoked key every 0.2 s."""
    return live_server_factory(PROMPTRAILS_LOCAL_MODEL_DELAY="0.04",
                               PROMPTRAILS_BROWSER_REVOCATION_CHECK_SECONDS="0.2")


@pytest.fixture
def live_key(browser_server: LiveServer, transactional_db: None) -> BrowserKey:
    browser_server.running()
    return make_browser_key("Live browser")
