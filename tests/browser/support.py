"""Browser-key test helpers: keys for an origin and a page that talks like the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.test import Client

from agents.services import demo_agent_ensure
from browser.services import browser_key_create
from promptrails.models import ApiKey
from tests.helpers import Tenant, make_tenant
from tests.support.live import ensure_local_model

ORIGIN = "https://shop.example"


@dataclass
class BrowserKey:
    tenant: Tenant
    agent_id: str
    key: ApiKey
    raw: str


def make_browser_key(name: str = "Browser A", origins: tuple[str, ...] = (ORIGIN,),
                     **kwargs: Any) -> BrowserKey:
    ensure_local_model()
    tenant = make_tenant(name)
    agent = demo_agent_ensure(workspace=tenant.workspace)
    key, raw = browser_key_create(workspace=tenant.workspace, name="site",
                                  agent_ids=[agent.id], origins=list(origins), **kwargs)
    return BrowserKey(tenant=tenant, agent_id=agent.id, key=key, raw=raw)


class Page:
    """What a page on `origin` sends, as the official runtime does (exact headers, bodies)."""

    def __init__(self, raw_key: str, agent_id: str, origin: str = ORIGIN) -> None:
        self.client = Client()
        self.raw_key, self.agent_id, self.origin = raw_key, agent_id, origin
        self.token = ""
        self.session_id = ""
        self.resume = ""

    def exchange(self, **extra: Any) -> Any:
        response = self.client.post(
            "/api/v1/browser/chat/token", {"agent_id": self.agent_id},
            content_type="application/json", HTTP_ORIGIN=self.origin,
            HTTP_ACCEPT="application/json", HTTP_X_API_KEY=self.raw_key, **extra)
        if response.status_code == 200:
            self.token = response.json()["data"]["access_token"]
        return response

    def headers(self, resume: bool = True) -> dict[str, Any]:
        headers: dict[str, Any] = {"HTTP_ORIGIN": self.origin, "HTTP_ACCEPT": "application/json",
                   "HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        if resume and self.resume:
            headers["HTTP_X_CHAT_RESUME_TOKEN"] = self.resume
        return headers

    def create_session(self, **body: Any) -> Any:
        payload = {"agent_id": self.agent_id, "title": "Website chat",
                   "metadata": {"channel": "browser_widget"}, **body}
        response = self.client.post("/api/v1/browser/chat/sessions", payload,
                                    content_type="application/json",
                                    **self.headers(resume=False))
        if response.status_code == 201:
            data = response.json()["data"]
            self.session_id, self.resume = data["id"], data["resume_token"]
        return response

    def get_messages(self) -> Any:
        return self.client.get(
            f"/api/v1/browser/chat/sessions/{self.session_id}/messages?limit=50",
            **self.headers())

    def feedback(self, execution_id: str, value: int) -> Any:
        return self.client.post(
            f"/api/v1/browser/chat/sessions/{self.session_id}/feedback",
            {"execution_id": execution_id, "value": value}, content_type="application/json",
            **self.headers())

    def delete(self) -> Any:
        return self.client.delete(f"/api/v1/browser/chat/sessions/{self.session_id}",
                                  **self.headers())
