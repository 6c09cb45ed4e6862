"""Idempotent setup: a workspace, a new API key, the demo agent, and a one-time sign-in link
to the chat page for the demo user (a member of the workspace)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from promptrails.services import (
    api_key_create,
    demo_user_ensure,
    signin_link_token,
    workspace_get_or_create,
)


class Command(BaseCommand):
    help = ("Create (or reuse) a workspace, issue an API key, ensure the demo agent and the "
            "demo user, and print a one-time sign-in link to the chat page.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", default="Demo workspace")
        parser.add_argument("--json", action="store_true", help="Print one JSON object only")
        parser.add_argument("--link-minutes", type=int, default=15,
                            help="How long the sign-in link works (it works once)")

    def handle(self, *args: Any, **options: Any) -> None:
        from agents.services import (
            approval_demo_agent_ensure,
            builtin_tools_ensure,
            demo_agent_ensure,
        )

        with transaction.atomic():
            workspace, _ = workspace_get_or_create(name=options["workspace"])
            _, raw_key = api_key_create(workspace=workspace, name="bootstrap")
            builtin_tools_ensure(workspace=workspace)
            agent = demo_agent_ensure(workspace=workspace)
            approval_demo_agent_ensure(workspace=workspace)  # a tool that waits for a person
            user = demo_user_ensure(workspace=workspace)
        token = signin_link_token(user=user,
                                  lifetime=timedelta(minutes=max(options["link_minutes"], 1)))
        # the SDK's base_url is the server root: it adds /api/v1 itself
        base = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        signin_url = f"{base}/signin/{token}"
        result = {"workspace_id": workspace.id, "api_key": raw_key, "agent_id": agent.id,
                  "base_url": base, "signin_url": signin_url, "username": user.get_username()}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        minutes = max(options["link_minutes"], 1)
        self.stdout.write(
            "\n".join(
                [
                    f"Workspace:  {workspace.name} ({workspace.id})",
                    f"API key:    {raw_key}   (shown once; store it)",
                    f"Demo agent: {agent.id}",
                    f"base_url:   {base}   (for the SDK: PromptRails(api_key=…, base_url=…))",
                    f"API docs:   {base}/api/docs",
                    f"Admin:      {base}/admin/",
                    "",
                    f"Chat page:  {signin_url}",
                    f"            (signs you in as '{user.get_username()}'; works once, "
                    f"for {minutes} minutes; run `python manage.py bootstrap` for a new one)",
                ]
            )
        )
