"""Security-relevant events: who did what, from where, when, under which correlation id.

A row never holds a token or a password: details are scrubbed as error
context is (``errors.scrubbing``). A flood of one kind from one address is
folded: beyond ``VOICEBOT_AUDIT_SAMPLE_RATE`` rows, the rest are counted in the
``count`` of the next row (see ``audit.recorder``).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.choices import AuditKind


class AuditEvent(models.Model):
    occurred_at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=32, choices=AuditKind.choices, db_index=True)
    # Who: a staff account, or a guest session (the lobby's creator, a client).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    actor = models.CharField(max_length=150, blank=True, help_text="The staff username, or the session that acted.")
    session_id = models.CharField(max_length=32, blank=True, db_index=True)
    # From where: the client address, as the trusted proxies give it.
    address = models.CharField(max_length=64, blank=True, db_index=True)
    lobby_id = models.CharField(max_length=32, blank=True, db_index=True)
    # What it was done to, in words ("participant Bob (4f1c0a9e)", "error group 12").
    target = models.CharField(max_length=255, blank=True)
    correlation_id = models.CharField(max_length=32, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    # Events this row stands for: 1, or more when a flood was folded into it.
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["kind", "-occurred_at"], name="auditevent_kind_latest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M:%S} ({self.correlation_id})"
