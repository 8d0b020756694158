"""Where security events wait before they are stored: never on the caller's thread.

Many audited events happen on the event loop (a rejected token, an origin
refused at the handshake) and some come in floods from one address. So
``AuditRecorder.record`` only appends a plain ``AuditEntry`` to a bounded
buffer (any thread), and a writer thread stores the buffer in one bulk
insert a cycle (the error writer's interval, ``VOICEBOT_ERROR_FLUSH_INTERVAL``).
Of each kind from each address, ``VOICEBOT_AUDIT_SAMPLE_RATE`` rows are
stored; beyond it occurrences are counted and stored as the ``count`` of one
row per cycle, so that a flood costs bounded writes and its size is kept.

Entries are stored through the database's guard (resilience.database:
retried, refused at once while its breaker is open). A database that is
down keeps the entries waiting (at most
``VOICEBOT_AUDIT_BUFFER_SIZE``; past it the oldest go, and a warning says how
many). With ``VOICEBOT_ERROR_WRITER = "manual"`` (the tests) there is no
writer thread: ``flush()`` stores.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import replace
from functools import cache

from django.conf import settings
from django.db import connections

from audit.entries import AuditEntry
from audit.storage import audit_entries_store
from errors.exceptions import DatabaseUnavailableError
from errors.throttle import Sampler
from errors.writer import BackgroundWriter
from resilience.database import database

logger = logging.getLogger("voicebot.audit")

# Sample windows kept before the ended ones are forgotten.
SAMPLE_WINDOWS_MAX = 10_000


class AuditRecorder:
    def __init__(self) -> None:
        self._pending: deque[AuditEntry] = deque()
        self._lock = threading.Lock()
        # (kind, address) -> a window; beyond it occurrences are folded into a count.
        self.sampler = Sampler(lambda: settings.VOICEBOT_AUDIT_SAMPLE_RATE, max_keys=SAMPLE_WINDOWS_MAX)
        self._write_lock = threading.Lock()
        self.writer = BackgroundWriter(
            "voicebot-audit-writer", interval=lambda: settings.VOICEBOT_ERROR_FLUSH_INTERVAL, flush=self.flush,
            close=self.close, logger=logger,
        )
        self.dropped = 0

    def record(self, entry: AuditEntry) -> None:
        if self.sampler.admit((entry.kind, entry.address or entry.session_id), entry):
            with self._lock:
                if len(self._pending) >= settings.VOICEBOT_AUDIT_BUFFER_SIZE:
                    self._pending.popleft()
                    self.dropped += 1
                self._pending.append(entry)
        self.writer.start_unless_manual()

    def waiting(self) -> int:
        with self._lock:
            return len(self._pending) + self.sampler.folded_keys()

    def flush(self) -> bool:
        """Store everything waiting, on the calling thread, through the database's guard; True when all is stored."""
        with self._write_lock:
            folded = [replace(kept.latest, count=kept.count) for kept in self.sampler.take_folded()]
            with self._lock:
                entries = list(self._pending) + folded
                self._pending.clear()
                dropped, self.dropped = self.dropped, 0
            if dropped:
                logger.warning("%d security audit events were dropped while the database was unavailable", dropped)
            if not entries:
                return True
            try:
                database().call_sync(lambda: audit_entries_store(entries=entries), retry=True,
                                     on_failure=self._reconnect)
            except DatabaseUnavailableError as exc:
                logger.warning("audit store unavailable (%s); %d events wait",
                               exc.context.get("exception", "breaker open"), len(entries))
                with self._lock:
                    self._pending.extendleft(reversed(entries))
                return False
            return True

    def _reconnect(self, exc: BaseException) -> None:
        if self.writer.in_thread():
            connections.close_all()  # a fresh connection for the next attempt

    def close(self) -> None:
        """Stop the writer and store what waits (at shutdown)."""
        self.writer.stop(settings.VOICEBOT_ERROR_SHUTDOWN_TIMEOUT)
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - shutdown goes on
            logger.exception("audit writer failed at shutdown")

    def discard(self) -> None:
        """Forget everything waiting (between tests)."""
        with self._lock:
            self._pending.clear()
            self.dropped = 0
        self.sampler.clear()


@cache
def audit_recorder() -> AuditRecorder:
    return AuditRecorder()


def audit_recorder_close() -> None:
    if audit_recorder.cache_info().currsize:
        audit_recorder().close()
