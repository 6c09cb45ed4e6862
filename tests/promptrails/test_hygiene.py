"""Security hygiene: deploy checks, headers, CSP on the chat page, keys never logged."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.helpers import Tenant
from tests.live import ROOT


def test_check_deploy_is_clean_with_production_settings() -> None:
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(60),
           "ALLOWED_HOSTS": "chat.example.com"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_a_missing_secret_key() -> None:
    env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "x"}
    env.pop("SECRET_KEY", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_chat_and_login_pages_send_a_csp(django_user_model: type[User]) -> None:
    client = Client()
    response = client.get("/login")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    user = django_user_model.objects.create_user("csp", password="pw-12345678")
    client.force_login(user)
    page = client.get("/")
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_api_keys_and_bodies_never_reach_the_logs(tenant: Tenant,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    secret_body = "my-very-private-message-body"
    with caplog.at_level(logging.DEBUG):
        tenant.client.post("/api/v1/chat/sessions", {"agent_id": "nope", "title": secret_body},
                           format="json")
        bad = Client()
        bad.get("/api/v1/agents", HTTP_X_API_KEY="pr_live_leakcheck_secret")
        tenant.client.get("/api/v1/nope")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert tenant.raw_key not in logged
    assert "pr_live_leakcheck_secret" not in logged
    assert secret_body not in logged
