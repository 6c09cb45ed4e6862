"""API conventions: auth, pagination bounds, JSON errors for Django's own 404/405/500."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from promptrails.models import ApiKey, hash_api_key
from tests.helpers import Tenant, assert_error

pytestmark = pytest.mark.django_db

LIST = "/api/v1/llm-models"


def test_missing_key_is_401(db: None) -> None:
    assert_error(APIClient().get(LIST), 401, "unauthorized")


@pytest.mark.parametrize("key", ["nonsense", "pr_live_unknownkey", "", "pr_live_"])
def test_malformed_or_unknown_key_is_401(db: None, key: str) -> None:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    assert_error(client.get(LIST), 401, "unauthorized")


def test_revoked_key_is_401(tenant: Tenant) -> None:
    assert tenant.client.get(LIST).status_code == 200
    ApiKey.objects.filter(key_hash=hash_api_key(tenant.raw_key)).update(revoked_at=timezone.now())
    assert_error(tenant.client.get(LIST), 401, "unauthorized")


def test_key_is_stored_hashed_and_last_used_recorded(tenant: Tenant) -> None:
    row = ApiKey.objects.get(key_hash=hash_api_key(tenant.raw_key))
    assert tenant.raw_key.startswith("pr_live_")
    assert tenant.raw_key not in str(ApiKey.objects.filter(pk=row.pk).values().get())
    assert row.last_used_at is None
    tenant.client.get(LIST)
    row.refresh_from_db()
    assert row.last_used_at is not None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "page=0", "page=-1", "page=x", "limit=1.5"]
)
def test_pagination_bounds_are_400(tenant: Tenant, query: str) -> None:
    error = assert_error(tenant.client.get(f"{LIST}?{query}"), 400, "validation_error")
    assert error["details"], error


def test_pagination_meta(tenant: Tenant) -> None:
    body = tenant.client.get(f"{LIST}?limit=1&page=2").json()
    assert set(body) == {"data", "meta"}
    meta = body["meta"]
    assert meta["page"] == 2 and meta["limit"] == 1
    assert meta["pages"] == meta["total_pages"] == meta["total"]
    assert isinstance(body["data"], list)
    empty = tenant.client.get(f"{LIST}?page=999").json()
    assert empty["data"] == [] and empty["meta"]["page"] == 999


@pytest.mark.parametrize("path", ["/api/v1/mcp-tools", "/api/v1/executions/approval-inbox",
                                  "/api/v1/chat/sessions", "/api/v1/agents"])
def test_a_page_far_past_the_end_is_empty_not_500(tenant: Tenant, path: str) -> None:
    # found by the fuzzer: page=14368429419900557879934976 overflowed the SQL OFFSET
    response = tenant.client.get(f"{path}?page=14368429419900557879934976")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["data"] == [] and body["meta"]["page"] == 14368429419900557879934976


def test_unknown_route_is_json_404(tenant: Tenant) -> None:
    assert_error(tenant.client.get("/api/v1/nope"), 404, "not_found")
    assert_error(Client().get("/api/v1/nope/deeper"), 404, "not_found")


def test_trailing_slash_is_json_404_not_redirect(tenant: Tenant) -> None:
    assert_error(tenant.client.get(f"{LIST}/"), 404, "not_found")


def test_wrong_method_is_json_405(tenant: Tenant) -> None:
    assert_error(tenant.client.delete(LIST), 405, "method_not_allowed")


def test_oversized_body_is_413(tenant: Tenant) -> None:
    body = '{"title": "' + "x" * (2 * 1024 * 1024) + '"}'
    response = tenant.client.generic(
        "POST", "/api/v1/chat/sessions", body, content_type="application/json"
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"]["max_bytes"] > 0


def test_session_auth_without_csrf_is_rejected(db: None, django_user_model: type[User]) -> None:
    from promptrails.models import Membership, Workspace

    user = django_user_model.objects.create_user("member", password="pw-12345678")
    Membership.objects.create(user=user, workspace=Workspace.objects.create(name="W"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(LIST).status_code == 200
    response = client.post("/api/v1/agents", {"name": "x"}, content_type="application/json")
    assert_error(response, 403, "forbidden")


def test_session_user_without_membership_is_403(db: None, django_user_model: type[User]) -> None:
    user = django_user_model.objects.create_user("loner", password="pw-12345678")
    client = Client()
    client.force_login(user)
    assert_error(client.get(LIST), 403, "forbidden")


def test_workspace_header_picks_membership(db: None, django_user_model: type[User]) -> None:
    from promptrails.models import Membership, Workspace

    user = django_user_model.objects.create_user("multi", password="pw-12345678")
    first, second = Workspace.objects.create(name="One"), Workspace.objects.create(name="Two")
    Membership.objects.create(user=user, workspace=first)
    Membership.objects.create(user=user, workspace=second)
    stranger = Workspace.objects.create(name="Three")
    client = Client()
    client.force_login(user)
    assert client.get(LIST, HTTP_X_WORKSPACE_ID=second.id).status_code == 200
    assert_error(client.get(LIST, HTTP_X_WORKSPACE_ID=stranger.id), 403, "forbidden")


def test_healthz(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


def test_healthz_verbose_reports_the_process(client: Client) -> None:
    process = client.get("/healthz?verbose=1").json()["process"]
    assert process["runs"] == 0
    assert isinstance(process["tasks"], int)
    assert isinstance(process["python_blocks"], int) and process["python_blocks"] > 10_000
