"""Agents, prompts, the model registry, credentials and built-in tools."""

from __future__ import annotations

from django.db import models

from promptrails.ids import KsuidField
from promptrails.models import Workspace


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"
    LOCAL = "local", "Offline (built-in)"


class LLMModel(models.Model):
    """A model in the global registry (prices in USD per 1M tokens)."""

    id = KsuidField(primary_key=True)
    provider = models.CharField(max_length=32, choices=Provider.choices)
    model_id = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200)
    base_url = models.URLField(blank=True, default="", help_text="e.g. an Ollama server")
    input_price = models.FloatField(default=0)
    output_price = models.FloatField(default=0)
    cached_input_price = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(default=128_000, help_text="Context window")
    max_output_tokens = models.PositiveIntegerField(default=4096)
    supports_tools = models.BooleanField(default=True)
    supports_streaming = models.BooleanField(default=True)
    supports_vision = models.BooleanField(default=False)
    supports_reasoning = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_deprecated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="uniq_llm_model"),
        ]
        verbose_name = "LLM model"

    def __str__(self) -> str:
        return f"{self.provider}/{self.model_id}"


class Credential(models.Model):
    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=32, help_text="Provider: openai, anthropic, …")
    category = models.CharField(max_length=32, default="llm")
    description = models.TextField(blank=True, default="")
    encrypted_value = models.TextField()
    masked_content = models.CharField(max_length=64, default="")
    is_default = models.BooleanField(default=False)
    is_valid = models.BooleanField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class McpTool(models.Model):
    """A tool a version can attach: a built-in (type "builtin") or an MCP server (type
    "remote_mcp", agents/mcp/): every tool the server offers, as discovered."""

    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=32, default="builtin")
    description = models.TextField(blank=True, default="")
    # remote_mcp: {"url", "transport_type", "headers" (masked), "allowed_tools"?,
    # "timeout_seconds"?}; the headers as written are in encrypted_headers
    config = models.JSONField(default=dict, blank=True)
    schema = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    status = models.CharField(max_length=32, default="active")
    credential = models.ForeignKey(Credential, on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="mcp_tools",
                                   help_text="Fills the headers' {{placeholders}}")
    encrypted_headers = models.TextField(blank=True, default="")
    discovered_tools = models.JSONField(default=list, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_tool_name"),
        ]
        verbose_name = "tool"

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=32, default="active")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    id = KsuidField(primary_key=True)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    system_prompt = models.TextField(blank=True, default="")
    user_prompt = models.TextField(blank=True, default="")
    input_schema = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True, default="")
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "version"], name="uniq_prompt_version"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt} v{self.version}"


class Agent(models.Model):
    class Type(models.TextChoices):
        AGENT = "agent", "Agent"
        WORKFLOW = "workflow", "Workflow"

    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.AGENT)
    status = models.CharField(max_length=16, default="active")
    labels = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "name"], name="agent_ws_name")]

    def __str__(self) -> str:
        return self.name


class AgentVersion(models.Model):
    id = KsuidField(primary_key=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    message = models.TextField(blank=True, default="")
    config = models.JSONField(default=dict, blank=True)
    input_schema = models.JSONField(default=dict, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    model_config = models.JSONField(default=dict, blank=True)
    run_budget = models.JSONField(default=dict, blank=True)
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "version"], name="uniq_agent_version"),
        ]

    def __str__(self) -> str:
        return f"{self.agent} v{self.version}"


class AgentVersionTool(models.Model):
    version = models.ForeignKey(AgentVersion, on_delete=models.CASCADE, related_name="tool_links")
    tool = models.ForeignKey(McpTool, on_delete=models.CASCADE, related_name="version_links")
    requires_approval = models.BooleanField(default=False)
    no_retry = models.BooleanField(default=False)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return f"{self.version} → {self.tool}"


class MemoryType(models.TextChoices):
    FACT = "fact", "Fact"
    PREFERENCE = "preference", "Preference"
    PROCEDURE = "procedure", "Procedure"
    SEMANTIC = "semantic", "Semantic"
    EPISODIC = "episodic", "Episodic"


class Memory(models.Model):
    """Something an agent keeps across sessions. ``subject`` is the external user it is
    about (a session's ``user_id``, else its ``metadata.user_id``); empty: about the agent
    in general. A memory is only ever read for its own workspace, agent and subject (or
    the general ones); deleting a session keeps its memories."""

    id = KsuidField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memories")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="memories")
    subject = models.CharField(max_length=255, blank=True, default="")
    content = models.TextField()
    memory_type = models.CharField(max_length=16, choices=MemoryType.choices,
                                   default=MemoryType.FACT)
    importance = models.FloatField(default=0.5)
    access_count = models.PositiveIntegerField(default=0)
    session_id = models.CharField(max_length=27, null=True, blank=True)  # where it was told
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "agent", "subject"],
                                name="memory_ws_agent_subject")]
        verbose_name_plural = "memories"

    def __str__(self) -> str:
        return self.content[:60]
