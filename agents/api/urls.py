"""Routes of the agents API (no trailing slashes; literal routes before {id} routes).

``POST agents/<id>/execute`` is routed by the executions app.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from agents.api import agents, credentials, memories, models, prompts, tools, versions

urlpatterns: list[URLPattern] = [
    path("agents", agents.AgentListView.as_view(), name="agent-list"),
    path("agents/<str:agent_id>", agents.AgentDetailView.as_view(), name="agent-detail"),
    path("agents/<str:agent_id>/versions", versions.AgentVersionListView.as_view(),
         name="agent-version-list"),
    path("agents/<str:agent_id>/versions/<str:version_id>",
         versions.AgentVersionDetailView.as_view(), name="agent-version-detail"),
    path("agents/<str:agent_id>/versions/<str:version_id>/promote",
         versions.AgentVersionPromoteView.as_view(), name="agent-version-promote"),
    path("agents/<str:agent_id>/preview", agents.AgentPreviewView.as_view(),
         name="agent-preview"),
    path("agents/<str:agent_id>/memories", memories.AgentMemoryListView.as_view(),
         name="agent-memory-list"),
    path("agents/<str:agent_id>/memories/<str:memory_id>",
         memories.AgentMemoryDetailView.as_view(), name="agent-memory-detail"),
    path("prompts", prompts.PromptListView.as_view(), name="prompt-list"),
    path("prompts/<str:prompt_id>", prompts.PromptDetailView.as_view(), name="prompt-detail"),
    path("prompts/<str:prompt_id>/versions", prompts.PromptVersionListView.as_view(),
         name="prompt-version-list"),
    path("prompts/<str:prompt_id>/versions/<str:version_id>",
         prompts.PromptVersionDetailView.as_view(), name="prompt-version-detail"),
    path("prompts/<str:prompt_id>/versions/<str:version_id>/promote",
         prompts.PromptVersionPromoteView.as_view(), name="prompt-version-promote"),
    path("prompts/<str:prompt_id>/preview", prompts.PromptPreviewView.as_view(),
         name="prompt-preview"),
    path("llm-models", models.LLMModelListView.as_view(), name="llm-model-list"),
    path("llm-models/available", models.LLMModelAvailableView.as_view(),
         name="llm-model-available"),
    path("llm-models/<str:model_pk>", models.LLMModelDetailView.as_view(),
         name="llm-model-detail"),
    path("credentials", credentials.CredentialListView.as_view(), name="credential-list"),
    path("credentials/<str:credential_id>", credentials.CredentialDetailView.as_view(),
         name="credential-detail"),
    path("credentials/<str:credential_id>/set-default",
         credentials.CredentialSetDefaultView.as_view(),
         name="credential-set-default"),
    path("credentials/<str:credential_id>/default", credentials.CredentialSetDefaultView.as_view(),
         name="credential-default"),
    path("credentials/<str:credential_id>/check", credentials.CredentialCheckView.as_view(),
         name="credential-check"),
    path("mcp-tools", tools.ToolListView.as_view(), name="mcp-tool-list"),
    path("mcp-tools/<str:tool_id>", tools.ToolDetailView.as_view(), name="mcp-tool-detail"),
    path("mcp-tools/<str:tool_id>/discover", tools.ToolDiscoverView.as_view(),
         name="mcp-tool-discover"),
    path("mcp-tools/<str:tool_id>/call", tools.ToolCallView.as_view(), name="mcp-tool-call"),
]
