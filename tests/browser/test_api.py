"""The browser chat API in-process: the token exchange, sessions and their resume tokens,
CORS from the key's origins, and every refusal (docs/api.md §10)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from django.core import signing
from django.core.management import CommandError, call_command
from django.test import Client

from agents.services import demo_agent_ensure
from browser import tokens
from browser.models import BrowserSession
from browser.origins import clean_origin
from chat.models import Session
from promptrails.errors import DomainError
from promptrails.models import ApiKey
from promptrails.services import api_key_revoke
from promptrails.tenancy import AuthFailed, workspace_from_api_key
from tests.browser.support import ORIGIN, BrowserKey, Page, make_browser_key
from tests.helpers import assert_error, make_tenant

EVIL = "https://evil.example"


def test_token_session_history_and_revoke(page: Page, bkey: BrowserKey) -> None:
    exchanged = page.exchange()
    assert exchanged.status_code == 200, exchanged.content
    data = exchanged.json()["data"]
    assert data["expires_in"] == 900 and data["token_type"] == "Bearer"
    assert exchanged["Access-Control-Allow-Origin"] == ORIGIN

    created = page.create_session(metadata=None)
    assert created.status_code == 201, created.content
    body = created.json()["data"]
    assert body["agent_id"] == bkey.agent_id and body["title"] == "Website chat"
    assert "visitor_id" not in body
    assert len(body["resume_token"]) >= 32
    session = Session.objects.get(pk=body["id"])
    assert session.workspace_id == bkey.tenant.workspace.pk
    assert session.metadata == {"channel": "browser_widget"}  # the default
    grant = BrowserSession.objects.get(session=session)
    # stored only as a hash, bound to the key and the origin
    assert grant.token_hash == hashlib.sha256(body["resume_token"].encode()).hexdigest()
    assert body["resume_token"] not in json.dumps(list(BrowserSession.objects.values()),
                                                  default=str)
    assert (grant.api_key_id, grant.origin) == (bkey.key.pk, ORIGIN)

    listed = page.get_messages()
    assert listed.status_code == 200, listed.content
    assert listed.json()["data"] == [] and listed.json()["meta"]["total"] == 0

    assert page.delete().status_code == 204
    assert_error(page.get_messages(), 403, "forbidden")
    assert_error(page.delete(), 403, "forbidden")
    assert Session.objects.filter(pk=session.pk).exists()  # staff keep it


def test_visitor_id_only_with_tracking_and_reused(page: Page) -> None:
    page.exchange()
    first = page.create_session(visitor_tracking=True).json()["data"]
    assert len(first["visitor_id"]) == 27 and first["visitor_id"].isalnum()
    again = page.create_session(visitor_tracking=True, visitor_id=first["visitor_id"])
    assert again.json()["data"]["visitor_id"] == first["visitor_id"]
    ignored = page.create_session(visitor_id=first["visitor_id"]).json()["data"]
    assert "visitor_id" not in ignored
    assert BrowserSession.objects.filter(visitor_id=first["visitor_id"]).count() == 2


def test_a_wrong_origin_gets_nothing(bkey: BrowserKey) -> None:
    evil = Page(bkey.raw, bkey.agent_id, origin=EVIL)
    refused = evil.exchange()
    assert_error(refused, 403, "forbidden")
    assert "Access-Control-Allow-Origin" not in refused
    no_origin = Page(bkey.raw, bkey.agent_id, origin="")
    assert_error(no_origin.exchange(), 403, "forbidden")
    http = Page(bkey.raw, bkey.agent_id, origin="http://shop.example")
    assert_error(http.exchange(), 403, "forbidden")


def test_a_bearer_is_bound_to_its_origin(transactional_db: None) -> None:
    two = make_browser_key(origins=(ORIGIN, "https://blog.example"))
    page = Page(two.raw, two.agent_id)
    page.exchange()
    page.create_session()
    page.origin = "https://blog.example"  # the same key's other origin, the same bearer
    assert_error(page.get_messages(), 403, "forbidden")
    assert_error(page.create_session(), 403, "forbidden")


def test_foreign_agents_are_refused(bkey: BrowserKey) -> None:
    other = make_tenant("Other workspace")
    foreign = demo_agent_ensure(workspace=other.workspace)
    assert_error(Page(bkey.raw, foreign.id).exchange(), 403, "forbidden")
    # an agent of the same workspace that the key does not list
    from agents.services import agent_create

    unlisted = agent_create(workspace=bkey.tenant.workspace, name="Internal")
    assert_error(Page(bkey.raw, unlisted.id).exchange(), 403, "forbidden")
    # a bearer for the listed agent cannot open a session of another one
    page = Page(bkey.raw, bkey.agent_id)
    page.exchange()
    page.agent_id = unlisted.id
    assert_error(page.create_session(), 403, "forbidden")
    assert not Session.objects.exists()


def test_another_sessions_resume_token_opens_nothing(bkey: BrowserKey) -> None:
    first, second = Page(bkey.raw, bkey.agent_id), Page(bkey.raw, bkey.agent_id)
    for page in (first, second):
        page.exchange()
        page.create_session()
    first.resume = second.resume
    assert_error(first.get_messages(), 403, "forbidden")
    assert_error(first.feedback("x" * 27, 1), 403, "forbidden")
    first.resume = ""
    assert_error(first.get_messages(), 403, "forbidden")
    # and a session made by the management API has no resume token at all
    staff = bkey.tenant.client.post("/api/v1/chat/sessions", {"agent_id": bkey.agent_id},
                                    format="json").json()["data"]
    second.session_id = staff["id"]
    assert_error(second.get_messages(), 403, "forbidden")


def test_a_browser_key_and_its_bearer_never_open_the_management_api(bkey: BrowserKey) -> None:
    page = Page(bkey.raw, bkey.agent_id)
    page.exchange()
    page.create_session()
    client = Client()
    for path in ("/api/v1/chat/sessions", f"/api/v1/chat/sessions/{page.session_id}",
                 "/api/v1/agents", "/api/v1/executions"):
        assert_error(client.get(path, HTTP_X_API_KEY=bkey.raw, HTTP_ORIGIN=ORIGIN), 403,
                     "forbidden")
        assert_error(client.get(path, HTTP_AUTHORIZATION=f"Bearer {page.token}",
                                HTTP_ORIGIN=ORIGIN), 401, "unauthorized")
    assert_error(client.post(f"/api/v1/chat/sessions/{page.session_id}/messages/stream",
                             {"content": "hi"}, content_type="application/json",
                             HTTP_X_API_KEY=bkey.raw), 403, "forbidden")
    # the layer under every route (and the WebSocket) refuses it too
    with pytest.raises(AuthFailed):
        workspace_from_api_key(bkey.raw)
    # and a workspace key is no browser key
    workspace_key = Page(bkey.tenant.raw_key, bkey.agent_id)
    assert_error(workspace_key.exchange(), 401, "unauthorized")


def _expired_token(key: BrowserKey) -> str:
    real = time.time
    try:
        signing.time.time = lambda: real() - 901  # type: ignore[attr-defined]
        return tokens.access_token_issue(tokens.AccessClaims(key.key.pk, key.agent_id, ORIGIN))
    finally:
        signing.time.time = real  # type: ignore[attr-defined]


def test_expired_tampered_and_revoked_tokens(bkey: BrowserKey) -> None:
    page = Page(bkey.raw, bkey.agent_id)
    page.exchange()
    page.create_session()
    good = page.token
    page.token = _expired_token(bkey)
    error = assert_error(page.get_messages(), 401, "unauthorized")
    assert "expired" in error["message"]
    page.token = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert_error(page.get_messages(), 401, "unauthorized")
    page.token = good
    assert page.get_messages().status_code == 200

    assert api_key_revoke(keys=ApiKey.objects.filter(pk=bkey.key.pk)) == 1
    refused = page.get_messages()
    assert_error(refused, 401, "unauthorized")
    assert_error(page.exchange(), 401, "unauthorized")
    assert_error(page.create_session(), 401, "unauthorized")


def test_an_origin_taken_off_the_key_ends_its_bearers(bkey: BrowserKey) -> None:
    page = Page(bkey.raw, bkey.agent_id)
    page.exchange()
    page.create_session()
    ApiKey.objects.filter(pk=bkey.key.pk).update(allowed_origins=["https://new.example"])
    assert_error(page.get_messages(), 403, "forbidden")


# --- CORS ------------------------------------------------------------------------------


def _preflight(path: str, origin: str, method: str = "POST") -> Any:
    return Client().options(path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
                            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-api-key")


@pytest.mark.parametrize("path", ["/api/v1/browser/chat/token",
                                  "/api/v1/browser/chat/sessions/abc/messages/stream"])
def test_preflight_follows_browser_key_origins_only(bkey: BrowserKey, settings: Any,
                                                    path: str) -> None:
    settings.CORS_ALLOWED_ORIGINS = [EVIL]  # for the management API: not these routes
    allowed = _preflight(path, ORIGIN)
    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == ORIGIN
    allowed_headers = allowed["Access-Control-Allow-Headers"]
    for header in ("authorization", "content-type", "x-api-key", "x-chat-resume-token"):
        assert header in allowed_headers
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in allowed
    for origin in (EVIL, "https://shop.example.evil.example", "null"):
        assert "Access-Control-Allow-Origin" not in _preflight(path, origin)
    # CORS_ALLOWED_ORIGINS still works for the management API
    management = _preflight("/api/v1/chat/sessions", EVIL, "GET")
    assert management["Access-Control-Allow-Origin"] == EVIL


def test_responses_carry_cors_only_for_the_keys_own_origins(bkey: BrowserKey) -> None:
    other = make_browser_key("Browser B", origins=("https://blog.example",))
    # an origin of another key, with this key: refused, and not readable by that page
    crossed = Page(bkey.raw, bkey.agent_id, origin="https://blog.example").exchange()
    assert_error(crossed, 403, "forbidden")
    assert "Access-Control-Allow-Origin" not in crossed
    # an expired bearer is readable by its page (so the widget can fetch a new one)
    page = Page(bkey.raw, bkey.agent_id)
    page.token = _expired_token(bkey)
    expired = page.create_session()
    assert expired.status_code == 401 and expired["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in expired["Vary"]
    # garbage credentials from an unknown origin: no CORS at all
    stranger = Page("pr_browser_nope", other.agent_id, origin=EVIL)
    assert "Access-Control-Allow-Origin" not in stranger.exchange()


def test_rate_limit_per_visitor_address(transactional_db: None) -> None:
    limited = make_browser_key(rate_limit_per_minute=3)
    page = Page(limited.raw, limited.agent_id)
    assert page.exchange().status_code == 200
    assert page.create_session().status_code == 201
    assert page.get_messages().status_code == 200
    refused = page.get_messages()
    error = assert_error(refused, 429, "rate_limited")
    assert error["details"]["scope"] == "visitor"
    assert int(refused["Retry-After"]) > 0
    assert refused["Access-Control-Allow-Origin"] == ORIGIN  # the page can read the 429
    assert_error(page.exchange(), 429, "rate_limited")
    # another visitor of the same page is not limited by this one
    other_visitor = Page(limited.raw, limited.agent_id)
    response = other_visitor.exchange(REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200, response.content


# --- creating keys ---------------------------------------------------------------------


@pytest.mark.parametrize("origin,expected", [
    ("https://Shop.Example", "https://shop.example"),
    ("https://shop.example:443/", "https://shop.example"),
    ("https://shop.example:8443", "https://shop.example:8443"),
    ("http://localhost:3000", "http://localhost:3000"),
    ("http://127.0.0.1", "http://127.0.0.1"),
])
def test_origins_are_exact(origin: str, expected: str) -> None:
    assert clean_origin(origin) == expected


@pytest.mark.parametrize("origin", ["http://shop.example", "https://*.shop.example", "*",
                                    "https://shop.example/path", "ftp://shop.example",
                                    "https://user@shop.example", "shop.example", ""])
def test_origins_that_are_refused(origin: str) -> None:
    with pytest.raises(DomainError):
        clean_origin(origin)


def test_create_api_key_command(bkey: BrowserKey, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = bkey.tenant.workspace
    call_command("create_api_key", "--workspace", workspace.pk, "--browser", "--agent",
                 bkey.agent_id, "--origin", "https://a.example", "--origin",
                 "http://localhost:8080", "--name", "site", "--json")
    made = json.loads(capsys.readouterr().out)
    assert made["api_key"].startswith("pr_browser_") and made["kind"] == "browser"
    key = ApiKey.objects.get(pk=made["id"])
    assert key.allowed_origins == ["https://a.example", "http://localhost:8080"]
    assert key.allowed_agent_ids == [bkey.agent_id] and key.name == "site"
    assert Page(made["api_key"], bkey.agent_id, "https://a.example").exchange().status_code == 200

    call_command("create_api_key", "--workspace", workspace.pk, "--json")
    plain = json.loads(capsys.readouterr().out)
    assert plain["api_key"].startswith("pr_live_") and plain["kind"] == "workspace"
    assert workspace_from_api_key(plain["api_key"]).workspace == workspace

    foreign = demo_agent_ensure(workspace=make_tenant("Elsewhere").workspace)
    for bad in (["--origin", "http://a.example", "--agent", bkey.agent_id],
                ["--origin", "https://a.example", "--agent", foreign.id],
                ["--origin", "https://a.example"]):
        with pytest.raises(CommandError):
            call_command("create_api_key", "--workspace", workspace.pk, "--browser", *bad)


def test_admin_makes_a_browser_key_shown_once(bkey: BrowserKey, admin_client: Any) -> None:
    response = admin_client.post("/admin/promptrails/apikey/add/", {
        "workspace": bkey.tenant.workspace.pk, "name": "shop", "kind": "browser",
        "agents": [bkey.agent_id], "origins": "https://shop.example\nhttp://localhost:3000",
        "rate_limit_per_minute": "30",
    }, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    key = ApiKey.objects.get(name="shop")
    assert key.kind == "browser" and key.rate_limit_per_minute == 30
    assert key.allowed_origins == ["https://shop.example", "http://localhost:3000"]
    raw = text.split("will not be shown again): ")[1].split("<")[0].strip()
    assert raw.startswith("pr_browser_") and key.key_hash == hashlib.sha256(
        raw.encode()).hexdigest()
    bad = admin_client.post("/admin/promptrails/apikey/add/", {
        "workspace": bkey.tenant.workspace.pk, "name": "bad", "kind": "browser",
        "agents": [bkey.agent_id], "origins": "http://shop.example"})
    assert bad.status_code == 200 and not ApiKey.objects.filter(name="bad").exists()
    assert "only HTTPS origins" in bad.content.decode()
    # the browser chats list shows where a session came from
    page = Page(bkey.raw, bkey.agent_id)
    page.exchange()
    page.create_session(visitor_tracking=True)
    listing = admin_client.get("/admin/browser/browsersession/").content.decode()
    assert page.session_id in listing and ORIGIN in listing


# --- for the official clients ------------------------------------------------------------


def test_agent_id_alias_on_session_create(bkey: BrowserKey) -> None:
    created = bkey.tenant.client.post("/api/v1/chat/sessions",
                                      {"agentId": bkey.agent_id, "title": "From the JS SDK"},
                                      format="json")
    assert created.status_code == 201, created.content
    assert created.json()["data"]["agent_id"] == bkey.agent_id
    assert_error(bkey.tenant.client.post("/api/v1/chat/sessions", {"agentId": "nope"},
                                         format="json"), 404, "not_found")


def test_v1_approvals_answer_like_real_routes(bkey: BrowserKey) -> None:
    client = bkey.tenant.client
    listed = client.get("/api/v1/approvals?status=pending&page=1&limit=50")
    assert listed.status_code == 200
    assert listed.json() == {"data": [], "meta": {"total": 0, "page": 1, "limit": 50,
                                                  "pages": 0, "total_pages": 0}}
    assert_error(client.get("/api/v1/approvals?limit=0"), 400, "validation_error")
    assert_error(client.get("/api/v1/approvals/3Mp7JblLk7fkRZvHY0gKIUyYNyx"), 404, "not_found")
    assert_error(client.post("/api/v1/approvals/whatever/decide", {"decision": "approved"},
                             format="json"), 404, "not_found")
    assert_error(Client().get("/api/v1/approvals"), 401, "unauthorized")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_routes_are_404_whatever_the_method(db: None, method: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/no-such-thing", {"a": 1},
                                       content_type="application/json")
    assert_error(response, 404, "not_found")
