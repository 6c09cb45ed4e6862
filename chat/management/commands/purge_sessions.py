"""Retention: delete sessions (with their messages and feedback) idle for more than N days.

Deletes in small batches, each its own short transaction, so no long locks are held.
Executions stay (they keep `session_id` for audit).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from chat.models import Session

BATCH = 500


class Command(BaseCommand):
    help = "Delete chat sessions whose last activity is older than --older-than DAYS."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--older-than", type=int, metavar="DAYS")
        parser.add_argument("--forget-subject", metavar="SUBJECT",
                            help="Delete every agent memory about this subject (a user's "
                                 "right to be forgotten); with --workspace, only there")
        parser.add_argument("--workspace", help="Only this workspace id")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing")
        parser.add_argument("--batch-size", type=int, default=BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["forget_subject"]:
            from agents.memories import memories_forget

            forgotten = memories_forget(subject=options["forget_subject"],
                                        workspace_id=options["workspace"])
            self.stdout.write(f"deleted {forgotten} memory(ies) about "
                              f"{options['forget_subject']!r}")
        days = options["older_than"]
        if days is None:
            if options["forget_subject"]:
                return
            raise CommandError("--older-than DAYS is required (or --forget-subject)")
        if days < 0:
            raise CommandError("--older-than must be 0 or more days")
        cutoff = timezone.now() - timedelta(days=days)
        qs = Session.objects.filter(updated_at__lt=cutoff, turn_execution_id__isnull=True)
        if options["workspace"]:
            qs = qs.filter(workspace_id=options["workspace"])
        if options["dry_run"]:
            since = f"{cutoff:%Y-%m-%d}"
            self.stdout.write(f"would delete {qs.count()} session(s) idle since before {since}")
            return
        deleted = 0
        while True:
            ids = list(qs.values_list("pk", flat=True)[: options["batch_size"]])
            if not ids:
                break
            with transaction.atomic():
                Session.objects.filter(pk__in=ids).delete()
            deleted += len(ids)
        self.stdout.write(f"deleted {deleted} session(s) idle since before {cutoff:%Y-%m-%d}")
