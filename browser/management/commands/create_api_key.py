"""Make an API key from the command line: a workspace key, or with --browser a browser-only
key (chat with the given agents, from the given origins). The raw key is printed once."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from browser.services import browser_key_create
from promptrails.errors import DomainError
from promptrails.models import Workspace
from promptrails.services import api_key_create


class Command(BaseCommand):
    help = ("Create an API key for a workspace; --browser makes a browser-only key "
            "(--agent and --origin, each repeatable).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace id")
        parser.add_argument("--name", default=None)
        parser.add_argument("--browser", action="store_true",
                            help="A browser-only key: chat only, these agents and origins")
        parser.add_argument("--agent", action="append", default=[], dest="agents",
                            help="An agent id the browser key may chat with (repeatable)")
        parser.add_argument("--origin", action="append", default=[], dest="origins",
                            help="An exact origin, e.g. https://shop.example (repeatable)")
        parser.add_argument("--rate-limit", type=int, default=None,
                            help="Browser key: requests per minute per visitor address")
        parser.add_argument("--json", action="store_true", help="Print one JSON object only")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(pk=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with id {options['workspace']!r}.")
        if not options["browser"] and (options["agents"] or options["origins"]
                                       or options["rate_limit"] is not None):
            raise CommandError("--agent, --origin and --rate-limit are for --browser keys.")
        try:
            if options["browser"]:
                key, raw = browser_key_create(
                    workspace=workspace, name=options["name"] or "browser",
                    agent_ids=options["agents"], origins=options["origins"],
                    rate_limit_per_minute=options["rate_limit"])
            else:
                key, raw = api_key_create(workspace=workspace, name=options["name"] or "default")
        except DomainError as exc:
            problems = "; ".join(f"{field}: {' '.join(messages)}"
                                 for field, messages in exc.details.items()) or exc.message
            raise CommandError(problems) from None
        result: dict[str, Any] = {"id": key.pk, "workspace_id": workspace.pk, "name": key.name,
                                  "kind": key.kind, "api_key": raw}
        if options["browser"]:
            result.update(agent_ids=key.allowed_agent_ids, origins=key.allowed_origins,
                          rate_limit_per_minute=key.rate_limit_per_minute)
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        lines = [f"API key:   {raw}   (shown once; store it)", f"Kind:      {key.kind}",
                 f"Workspace: {workspace.name} ({workspace.pk})"]
        if options["browser"]:
            lines += [f"Agents:    {', '.join(key.allowed_agent_ids)}",
                      f"Origins:   {', '.join(key.allowed_origins)}"]
        self.stdout.write("\n".join(lines))
