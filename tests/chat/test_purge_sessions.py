from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from agents.services import demo_agent_ensure
from chat.models import Feedback, Message, Session
from executions.models import Execution
from tests.helpers import Tenant


def _session(tenant: Tenant, days_idle: int, messages: int = 2) -> Session:
    agent = demo_agent_ensure(workspace=tenant.workspace)
    session = Session.objects.create(workspace=tenant.workspace, agent=agent)
    execution = Execution.objects.create(workspace=tenant.workspace, agent=agent,
                                         session_id=session.id, status="completed")
    Message.objects.bulk_create(
        [Message(session=session, role="user", content=f"m{i}") for i in range(messages)]
    )
    Feedback.objects.create(session=session, execution=execution, value=1)
    Session.objects.filter(pk=session.pk).update(
        updated_at=timezone.now() - timedelta(days=days_idle))
    return session


def test_purge_deletes_old_sessions_in_batches(tenant: Tenant, other_tenant: Tenant) -> None:
    old = [_session(tenant, 40) for _ in range(5)]
    recent = _session(tenant, 5)
    theirs = _session(other_tenant, 40)
    out = StringIO()
    call_command("purge_sessions", "--older-than", "30", "--workspace", tenant.workspace.id,
                 "--batch-size", "2", stdout=out)
    assert "deleted 5 session(s)" in out.getvalue()
    assert not Session.objects.filter(pk__in=[s.pk for s in old]).exists()
    assert Session.objects.filter(pk__in=[recent.pk, theirs.pk]).count() == 2
    assert not Message.objects.filter(session_id__in=[s.pk for s in old]).exists()
    assert not Feedback.objects.filter(session_id__in=[s.pk for s in old]).exists()
    # executions stay for audit, with their session_id
    assert Execution.objects.filter(session_id__in=[s.pk for s in old]).count() == 5


def test_dry_run_deletes_nothing(tenant: Tenant) -> None:
    _session(tenant, 40)
    out = StringIO()
    call_command("purge_sessions", "--older-than", "30", "--dry-run", stdout=out)
    assert "would delete 1 session(s)" in out.getvalue()
    assert Session.objects.count() == 1


@pytest.mark.django_db
def test_negative_days_refused() -> None:
    with pytest.raises(CommandError):
        call_command("purge_sessions", "--older-than", "-1")
