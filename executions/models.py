"""Executions (one per turn or agent run) and their durable, sequence-numbered event log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agents.models import Agent, AgentVersion
from promptrails.ids import KsuidField
from promptrails.models import Workspace


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING_APPROVAL = "waiting_approval", "Waiting for approval"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (
    ExecutionStatus.PENDING,
    ExecutionStatus.RUNNING,
    ExecutionStatus.WAITING_APPROVAL,
    ExecutionStatus.CANCEL_REQUESTED,
)
FINISHED_STATUSES = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


class Execution(models.Model):
    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="executions")
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="executions")
    agent_name = models.CharField(max_length=200, blank=True, default="")
    agent_version = models.ForeignKey(AgentVersion, on_delete=models.SET_NULL, null=True,
                                      blank=True, related_name="executions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="executions")
    # Not a foreign key: a deleted session leaves its executions for audit.
    session_id = models.CharField(max_length=27, null=True, blank=True)
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="children")
    status = models.CharField(max_length=24, choices=ExecutionStatus.choices,
                              default=ExecutionStatus.PENDING)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    # Lease of the process running it: renewed while it runs; a stale one means it died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="exec_ws_created"),
            models.Index(fields=["workspace", "session_id"], name="exec_ws_session"),
            models.Index(fields=["status", "heartbeat_at"], name="exec_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class ExecutionEvent(models.Model):
    """One row of the event log: a single event, or a run of coalesced content deltas.

    A row covers sequence numbers ``seq``..``last_seq``; for a content run ``data`` is
    ``{"chunks": [...]}`` with one chunk per sequence number, so a replay yields exactly
    the events subscribers saw live, while a long reply is a few dozen rows.
    """

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "seq"], name="uniq_event_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id}#{self.seq} {self.type}"
