"""Deleting rows older than a cutoff in chunks: the one way every retention service deletes.

Each chunk is its own statement, so that a large prune never holds one long
transaction (nor a lock on the whole table) while the server keeps writing.
"""
from __future__ import annotations

from django.db.models import QuerySet

DELETE_BATCH = 5000


def rows_prune(old: QuerySet, *, dry_run: bool = False, batch: int = DELETE_BATCH) -> int:
    """Delete the rows of ``old`` chunk by chunk; how many were (or, with ``dry_run``, would be) deleted."""
    if dry_run:
        return old.count()
    model = old.model
    deleted = 0
    while True:
        chunk = list(old.values_list("pk", flat=True)[:batch])
        if not chunk:
            return deleted
        # Count only the model's own rows (delete() also reports cascades).
        deleted += model.objects.filter(pk__in=chunk).delete()[1].get(model._meta.label, 0)
