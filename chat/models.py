"""Chat sessions, their messages and feedback."""

from __future__ import annotations

from django.db import models

from agents.models import Agent
from executions.models import Execution
from promptrails.ids import KsuidField
from promptrails.models import Workspace


class Session(models.Model):
    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sessions")
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="sessions")
    # The API's user_id: an id of the caller's choosing (the chat page uses the username).
    user_id = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    title = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now_add=True, db_index=False)
    # The turn lock: the execution holding the session, until its lease runs out.
    turn_execution_id = models.CharField(max_length=27, null=True, blank=True)
    turn_lease_until = models.DateTimeField(null=True, blank=True)
    # Running totals of the session's messages, kept in the same transaction that stores a
    # message (chat/services.py), so the admin shows and sorts them without aggregating.
    message_count = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    total_tokens = models.PositiveBigIntegerField(default=0, db_default=0, editable=False)
    total_cost = models.FloatField(default=0, db_default=0, editable=False)
    # The current rolling summary (agent versions with context strategy "summary"): the
    # messages up to its covers_until_message_id are sent as that summary. Replaced only
    # by a conditional UPDATE on this column (chat/summaries.py).
    summary = models.ForeignKey("Summary", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-updated_at"], name="session_ws_updated"),
            models.Index(fields=["workspace", "agent"], name="session_ws_agent"),
            # The admin's sorts by the running totals (walked either way; ties by id).
            models.Index(fields=["message_count", "id"], name="session_messages_id"),
            models.Index(fields=["total_tokens", "id"], name="session_tokens_id"),
            models.Index(fields=["total_cost", "id"], name="session_cost_id"),
        ]

    def __str__(self) -> str:
        return self.title or self.id


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        SYSTEM = "system", "System"
        TOOL = "tool", "Tool"

    id = KsuidField(primary_key=True)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    tool_calls = models.JSONField(null=True, blank=True)
    tool_results = models.JSONField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True, default="")
    token_count = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0)
    execution = models.ForeignKey(Execution, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="messages")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "id"]
        indexes = [models.Index(fields=["session", "id"], name="message_session_id")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class Feedback(models.Model):
    id = KsuidField(primary_key=True)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="feedback")
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="feedback")
    value = models.SmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "execution"], name="uniq_feedback"),
        ]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"{self.value:+d} on {self.execution_id}"


class IdempotencyKey(models.Model):
    """A send made with an Idempotency-Key: a retry within 24 h returns the same turn."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    session_id = models.CharField(max_length=27)
    execution_id = models.CharField(max_length=27)
    user_message_id = models.CharField(max_length=27)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="uniq_idempotency_key"),
        ]

    def __str__(self) -> str:
        return self.key


class Summary(models.Model):
    """A rolling summary of a session's older messages, up to and including
    ``covers_until_message_id``: the previous summary with the messages folded since."""

    id = KsuidField(primary_key=True)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="summaries")
    content = models.TextField()
    covers_until_message_id = models.CharField(max_length=27)
    previous_id = models.CharField(max_length=27, null=True, blank=True)
    messages_folded = models.PositiveIntegerField(default=0)
    messages_skipped = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0)
    execution = models.ForeignKey(Execution, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "-id"]
        verbose_name_plural = "summaries"

    def __str__(self) -> str:
        return f"summary of {self.session_id} until {self.covers_until_message_id}"
