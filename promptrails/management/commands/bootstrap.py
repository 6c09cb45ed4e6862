"""Idempotent setup: a workspace, a new API key, and the demo agent on the offline model."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from promptrails.services import api_key_create, workspace_get_or_create


class Command(BaseCommand):
    help = "Create (or reuse) a workspace, issue an API key and ensure the demo agent."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", default="Demo workspace")
        parser.add_argument("--json", action="store_true", help="Print one JSON object only")

    def handle(self, *args: Any, **options: Any) -> None:
        from agents.services import builtin_tools_ensure, demo_agent_ensure

        with transaction.atomic():
            workspace, _ = workspace_get_or_create(name=options["workspace"])
            _, raw_key = api_key_create(workspace=workspace, name="bootstrap")
            builtin_tools_ensure(workspace=workspace)
            agent = demo_agent_ensure(workspace=workspace)
        result = {"workspace_id": workspace.id, "api_key": raw_key, "agent_id": agent.id}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        base = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        self.stdout.write(
            "\n".join(
                [
                    f"Workspace:  {workspace.name} ({workspace.id})",
                    f"API key:    {raw_key}   (shown once; store it)",
                    f"Demo agent: {agent.id}",
                    f"API base:   {base}/api/v1",
                    f"API docs:   {base}/api/docs",
                    f"Chat page:  {base}/",
                    f"Admin:      {base}/admin/",
                ]
            )
        )
