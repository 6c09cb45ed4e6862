"""End executions left running by a process that died (each server also sweeps on its own)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from executions.services import executions_recover_stale


class Command(BaseCommand):
    help = "Mark stale running executions failed ('interrupted') and release their sessions."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"recovered {executions_recover_stale()} execution(s)")
