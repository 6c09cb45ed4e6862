"""Tenancy: workspaces, their API keys and their members."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models

from promptrails.ids import KsuidField

API_KEY_PREFIX = "pr_live_"
BROWSER_KEY_PREFIX = "pr_browser_"  # browser-only keys (browser/): public, chat only


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class Workspace(models.Model):
    id = KsuidField(primary_key=True)
    name = models.CharField(max_length=200, unique=True)
    # Optional per-workspace limits (None = the settings default).
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_concurrent_turns = models.PositiveIntegerField(null=True, blank=True)
    # Moves with every change to what an agent of this workspace runs with (agents,
    # versions, prompts, credentials, tools, LLM models), in the transaction of the change:
    # prepared agents are cached per process under it (agents.preparation).
    config_revision = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    class Kind(models.TextChoices):
        WORKSPACE = "workspace", "Workspace (management API)"
        BROWSER = "browser", "Browser (chat only, public)"

    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, default="default")
    prefix = models.CharField(max_length=16, help_text="The first characters, for recognition")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.WORKSPACE)
    # Browser keys only (browser/): the agents it may chat with, the exact origins of the
    # pages that may use it, and its own limit of requests per minute per visitor address
    # (empty: settings.BROWSER_RATE_LIMIT_PER_MINUTE).
    allowed_agent_ids = models.JSONField(default=list, blank=True)
    allowed_origins = models.JSONField(default=list, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)

    objects: Any = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate(prefix: str = API_KEY_PREFIX) -> tuple[str, str, str]:
        """A new raw key, with its prefix and hash; the raw key is shown once, never stored."""
        raw = prefix + secrets.token_urlsafe(32)
        return raw, raw[: len(prefix) + 4], hash_api_key(raw)


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    id = KsuidField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="uniq_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"
