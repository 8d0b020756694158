"""Writes of the errors app: storing occurrences, triage, pruning."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from errors.choices import GroupStatus
from errors.models import ErrorEvent, ErrorGroup
from errors.occurrence import Occurrence
from voicebot_site.retention import rows_prune

EVENT_INSERT_BATCH = 500


def error_occurrences_store(*, occurrences: list[Occurrence]) -> int:
    """Store a batch in one transaction: groups created or counted, events inserted.

    Each group's counters move in one UPDATE (count, first and last seen,
    reopening a resolved group that an occurrence after its resolution
    regressed); the events go in with bulk inserts. All or nothing, so that a
    batch retried after a failure is never counted twice. Returns the number
    of occurrences counted (the sum of the weights).
    """
    if not occurrences:
        return 0
    by_group: dict[str, list[Occurrence]] = defaultdict(list)
    for occurrence in occurrences:
        by_group[occurrence.fingerprint].append(occurrence)
    now = timezone.now()
    with transaction.atomic():
        ErrorGroup.objects.bulk_create(
            [
                ErrorGroup(
                    fingerprint=fingerprint,
                    code=group[-1].code,
                    category=group[-1].category,
                    severity=group[-1].severity,
                    title=group[-1].title,
                    where=group[-1].where,
                    transport=group[-1].transport,
                    first_seen=min(o.occurred_at for o in group),
                    last_seen=max(o.occurred_at for o in group),
                )
                for fingerprint, group in by_group.items()
            ],
            ignore_conflicts=True,
        )
        group_ids = dict(
            ErrorGroup.objects.filter(fingerprint__in=list(by_group)).values_list("fingerprint", "id")
        )
        with connection.cursor() as cursor:
            adapt = connection.ops.adapt_datetimefield_value
            for fingerprint, group in by_group.items():
                first, last = min(o.occurred_at for o in group), max(o.occurred_at for o in group)
                cursor.execute(_group_count_statement(connection.vendor), {
                    "weight": sum(o.weight for o in group),
                    "first": adapt(first),
                    "last": adapt(last),
                    "severity": str(group[-1].severity),
                    "resolved": GroupStatus.RESOLVED.value,
                    "unresolved": GroupStatus.UNRESOLVED.value,
                    "now": adapt(now),
                    "id": group_ids[fingerprint],
                })
        ErrorEvent.objects.bulk_create(
            [
                ErrorEvent(
                    group_id=group_ids[o.fingerprint],
                    occurred_at=o.occurred_at,
                    correlation_id=o.correlation_id,
                    transport=o.transport,
                    where=o.where,
                    path=o.path,
                    lobby_id=o.lobby_id,
                    session_id=o.session_id,
                    severity=o.severity,
                    message=o.message,
                    context=o.context or {},
                    traceback=o.traceback,
                    host=o.host,
                    pid=o.pid,
                    weight=o.weight,
                )
                for o in occurrences
            ],
            batch_size=EVENT_INSERT_BATCH,
        )
    return sum(o.weight for o in occurrences)


@cache
def _group_count_statement(vendor: str) -> str:
    """Count a batch into its group in one UPDATE.

    The ORM compiled this UPDATE (seven expressions) afresh for every group
    of every batch, which made storing a trickle of errors cost the relays
    around it several per cent of a core. Every SET reads the row as it was
    before the UPDATE, in SQLite as in PostgreSQL: a resolved group that an
    occurrence after its resolution regressed is reopened.
    """
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(ErrorGroup._meta.get_field(name).column)

    regresses = f"{column('status')} = %(resolved)s AND {column('resolved_at')} < %(last)s"
    return (
        f"UPDATE {quote(ErrorGroup._meta.db_table)} SET"
        f" {column('count')} = {column('count')} + %(weight)s,"
        f" {column('first_seen')} = CASE WHEN {column('first_seen')} <= %(first)s"
        f" THEN {column('first_seen')} ELSE %(first)s END,"
        f" {column('last_seen')} = CASE WHEN {column('last_seen')} >= %(last)s"
        f" THEN {column('last_seen')} ELSE %(last)s END,"
        f" {column('severity')} = %(severity)s,"
        f" {column('status')} = CASE WHEN {regresses} THEN %(unresolved)s ELSE {column('status')} END,"
        f" {column('regressed')} = CASE WHEN {regresses} THEN TRUE ELSE {column('regressed')} END,"
        f" {column('regressed_at')} = CASE WHEN {regresses} THEN %(now)s ELSE {column('regressed_at')} END"
        f" WHERE {column('id')} = %(id)s"
    )


def error_group_resolve(*, group_ids: list[int], user: Any | None) -> int:
    return ErrorGroup.objects.filter(pk__in=group_ids).update(
        status=GroupStatus.RESOLVED,
        resolved_at=timezone.now(),
        resolved_by=user if user is not None and user.is_authenticated else None,
        regressed=False,
    )


def error_group_ignore(*, group_ids: list[int]) -> int:
    return ErrorGroup.objects.filter(pk__in=group_ids).update(status=GroupStatus.IGNORED)


def error_group_reopen(*, group_ids: list[int]) -> int:
    return ErrorGroup.objects.filter(pk__in=group_ids).update(
        status=GroupStatus.UNRESOLVED, resolved_at=None, resolved_by=None
    )


def error_events_prune(*, older_than: timedelta, dry_run: bool = False, now: datetime | None = None) -> int:
    """Delete events older than ``older_than``; groups and their counts stay.

    Deletes in chunks, each its own statement, so that a large prune never
    holds one long transaction. Returns how many events were (or, with
    ``dry_run``, would be) deleted.
    """
    cutoff = (now or timezone.now()) - older_than
    return rows_prune(ErrorEvent.objects.filter(occurred_at__lt=cutoff), dry_run=dry_run)
