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


class SpanKind(models.TextChoices):
    AGENT = "agent", "Agent"
    LLM = "llm", "Model call"
    TOOL = "tool", "Tool call"
    MCP_CALL = "mcp_call", "MCP tool call"
    APPROVAL = "approval", "Wait for approval"
    SUMMARY = "summary", "Summarize history"


class SpanStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Span(models.Model):
    """One span of a turn's trace (docs/api.md §8): the root agent span, model calls, tool calls.

    Written in one batch when the turn ends (see executions/traces.py), never per token.
    """

    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="spans")
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="spans")
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True, default="")
    session_id = models.CharField(max_length=27, null=True, blank=True)
    kind = models.CharField(max_length=8, choices=SpanKind.choices)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=SpanStatus.choices, default=SpanStatus.OK)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=32, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cache_creation_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-started_at"], name="span_ws_started"),
            models.Index(fields=["workspace", "trace_id"], name="span_ws_trace"),
            models.Index(fields=["workspace", "kind", "-started_at"], name="span_ws_kind"),
            models.Index(fields=["workspace", "session_id"], name="span_ws_session"),
            models.Index(fields=["workspace", "status", "-started_at"], name="span_ws_status"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["trace_id", "span_id"], name="uniq_span_in_trace"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id}/{self.span_id} {self.kind} {self.name}"


# Statuses whose run holds a lease (a process renews it); a parked run holds none.
LEASED_STATUSES = (
    ExecutionStatus.PENDING,
    ExecutionStatus.RUNNING,
    ExecutionStatus.CANCEL_REQUESTED,
)


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


class Approval(models.Model):
    """A tool call a person must approve, and the parked run waiting for it (``state``:
    what the loop needs to continue, see executions/approvals.py)."""

    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="approvals")
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="approvals")
    agent_id = models.CharField(max_length=27, null=True, blank=True)
    session_id = models.CharField(max_length=27, null=True, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True, default="")
    tool_name = models.CharField(max_length=200)
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ApprovalStatus.choices,
                              default=ApprovalStatus.PENDING)
    on_timeout = models.CharField(max_length=16, default="deny")
    decided_by = models.CharField(max_length=200, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(null=True, blank=True)
    expires_at = models.DateTimeField()
    state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "status", "-created_at"], name="approval_ws_status"),
            models.Index(fields=["status", "expires_at"], name="approval_due"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.tool_name} ({self.status})"
