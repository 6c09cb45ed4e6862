"""Every saved or deleted piece of agent configuration moves its workspace's
`config_revision` (in the same transaction), so cached prepared agents are never used past
a change — admin edits and services alike. `QuerySet.update()` sends no signal: services
that change configuration that way call `configuration_changed` themselves."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save

from agents.models import (
    Agent,
    AgentVersion,
    AgentVersionTool,
    Credential,
    LLMModel,
    McpTool,
    Prompt,
    PromptVersion,
)
from promptrails.models import Workspace
from promptrails.services import workspace_config_bump


def _workspaces_of(instance: Model) -> QuerySet[Workspace]:
    if isinstance(instance, LLMModel):  # the registry is shared by every workspace
        return Workspace.objects.all()
    if isinstance(instance, Agent | Prompt | Credential | McpTool):
        return Workspace.objects.filter(pk=instance.workspace_id)
    owner: QuerySet[Any, Any]
    if isinstance(instance, AgentVersion):
        owner = Agent.objects.filter(pk=instance.agent_id).values("workspace_id")
    elif isinstance(instance, PromptVersion):
        owner = Prompt.objects.filter(pk=instance.prompt_id).values("workspace_id")
    else:
        assert isinstance(instance, AgentVersionTool)
        owner = AgentVersion.objects.filter(pk=instance.version_id).values("agent__workspace_id")
    return Workspace.objects.filter(pk__in=owner)


def configuration_changed(instance: Model) -> None:
    """This piece of agent configuration changed: move its workspace's (or, for an LLM
    model, every workspace's) configuration revision."""
    workspace_config_bump(_workspaces_of(instance))


def _changed(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # loaddata
        return
    configuration_changed(instance)


def connect() -> None:
    for model in (Agent, AgentVersion, AgentVersionTool, Credential, LLMModel, McpTool, Prompt,
                  PromptVersion):
        post_save.connect(_changed, sender=model, dispatch_uid=f"config-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"config-{model.__name__}-del")
