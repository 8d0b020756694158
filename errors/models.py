"""Stored errors: one group per fingerprint, one event per stored occurrence.

A group counts every occurrence exactly. Under a storm only a sample of the
occurrences is stored as full event rows; a row that stands for occurrences
that were not stored says how many in ``weight``, so that the sum of the
weights of a group's events in a window is the number of occurrences in it.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

from errors.choices import Category, GroupStatus, Severity


class ErrorGroup(models.Model):
    # sha256 of code, category and where it was raised (plus the exception
    # type and function for unexpected exceptions): never variable text.
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)
    code = models.CharField(max_length=64, db_index=True)
    category = models.CharField(max_length=16, choices=Category.choices, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, db_index=True)
    title = models.CharField(max_length=255)
    # The message type, view name or task the errors were raised in.
    where = models.CharField(max_length=200)
    transport = models.CharField(max_length=16)
    status = models.CharField(
        max_length=16, choices=GroupStatus.choices, default=GroupStatus.UNRESOLVED, db_index=True
    )
    count = models.BigIntegerField(default=0, help_text="Every occurrence, sampled or stored.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    regressed = models.BooleanField(default=False, help_text="It came back after it was resolved.")
    regressed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return self.title


class ErrorEvent(models.Model):
    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField(db_index=True)
    correlation_id = models.CharField(max_length=32, db_index=True)
    transport = models.CharField(max_length=16)
    # A message type or view name (the group's ``where``) and, for HTTP, the path.
    where = models.CharField(max_length=200)
    path = models.CharField(max_length=400, blank=True)
    lobby_id = models.CharField(max_length=32, blank=True, db_index=True)
    session_id = models.CharField(max_length=32, blank=True, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    # What the client was told.
    message = models.TextField()
    # Secrets scrubbed, long values cut short.
    context = models.JSONField(default=dict, blank=True)
    traceback = models.TextField(blank=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    # Occurrences this row stands for: 1, or more for a row that also counts
    # occurrences sampled away under a storm.
    weight = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["group", "-occurred_at"], name="errorevent_group_latest")]

    def __str__(self) -> str:
        return f"{self.group.code} at {self.occurred_at:%Y-%m-%d %H:%M:%S} ({self.correlation_id})"

    @property
    def sampled(self) -> bool:
        return self.weight > 1


class ErrorDashboard(ErrorGroup):
    """No data of its own: puts the dashboard page on the admin index."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"
