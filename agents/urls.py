"""Routes of the agents app (no trailing slashes; literal routes before {id} routes).

``POST agents/<id>/execute`` is routed by the executions app.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from agents import views

urlpatterns: list[URLPattern] = [
    path("agents", views.AgentListView.as_view(), name="agent-list"),
    path("agents/<str:agent_id>", views.AgentDetailView.as_view(), name="agent-detail"),
    path("agents/<str:agent_id>/versions", views.AgentVersionListView.as_view(),
         name="agent-version-list"),
    path("agents/<str:agent_id>/versions/<str:version_id>",
         views.AgentVersionDetailView.as_view(), name="agent-version-detail"),
    path("agents/<str:agent_id>/versions/<str:version_id>/promote",
         views.AgentVersionPromoteView.as_view(), name="agent-version-promote"),
    path("agents/<str:agent_id>/preview", views.AgentPreviewView.as_view(),
         name="agent-preview"),
    path("agents/<str:agent_id>/memories", views.AgentMemoryListView.as_view(),
         name="agent-memory-list"),
    path("agents/<str:agent_id>/memories/<str:memory_id>",
         views.AgentMemoryDetailView.as_view(), name="agent-memory-detail"),
    path("prompts", views.PromptListView.as_view(), name="prompt-list"),
    path("prompts/<str:prompt_id>", views.PromptDetailView.as_view(), name="prompt-detail"),
    path("prompts/<str:prompt_id>/versions", views.PromptVersionListView.as_view(),
         name="prompt-version-list"),
    path("prompts/<str:prompt_id>/versions/<str:version_id>",
         views.PromptVersionDetailView.as_view(), name="prompt-version-detail"),
    path("prompts/<str:prompt_id>/versions/<str:version_id>/promote",
         views.PromptVersionPromoteView.as_view(), name="prompt-version-promote"),
    path("prompts/<str:prompt_id>/preview", views.PromptPreviewView.as_view(),
         name="prompt-preview"),
    path("llm-models", views.LLMModelListView.as_view(), name="llm-model-list"),
    path("llm-models/available", views.LLMModelAvailableView.as_view(),
         name="llm-model-available"),
    path("llm-models/<str:model_pk>", views.LLMModelDetailView.as_view(),
         name="llm-model-detail"),
    path("credentials", views.CredentialListView.as_view(), name="credential-list"),
    path("credentials/<str:credential_id>", views.CredentialDetailView.as_view(),
         name="credential-detail"),
    path("credentials/<str:credential_id>/set-default", views.CredentialSetDefaultView.as_view(),
         name="credential-set-default"),
    path("credentials/<str:credential_id>/default", views.CredentialSetDefaultView.as_view(),
         name="credential-default"),
    path("credentials/<str:credential_id>/check", views.CredentialCheckView.as_view(),
         name="credential-check"),
    path("mcp-tools", views.ToolListView.as_view(), name="mcp-tool-list"),
    path("mcp-tools/<str:tool_id>", views.ToolDetailView.as_view(), name="mcp-tool-detail"),
    path("mcp-tools/<str:tool_id>/discover", views.ToolDiscoverView.as_view(),
         name="mcp-tool-discover"),
    path("mcp-tools/<str:tool_id>/call", views.ToolCallView.as_view(), name="mcp-tool-call"),
]
