"""manage.py prune_audit."""
from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def event(age_days: int) -> AuditEvent:
    return AuditEvent.objects.create(kind="token_rejected", occurred_at=timezone.now() - timedelta(days=age_days),
                                     correlation_id="c" * 32)


def test_prune_deletes_only_older_events_and_dry_run_deletes_nothing() -> None:
    old, recent = event(100), event(1)
    out = StringIO()
    call_command("prune_audit", "--older-than", "90d", "--dry-run", stdout=out)
    assert "Would delete 1" in out.getvalue() and AuditEvent.objects.count() == 2
    call_command("prune_audit", "--older-than", "90d", stdout=out)
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AuditEvent.objects.filter(pk=old.pk).exists()


def test_prune_with_a_bad_span_is_a_command_error() -> None:
    with pytest.raises(CommandError):
        call_command("prune_audit", "--older-than", "soon")
