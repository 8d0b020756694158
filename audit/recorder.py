"""Where security events wait before they are stored: never on the caller's thread.

Many audited events happen on the event loop (a rejected token, an origin
refused at the handshake) and some come in floods from one address. So
``AuditRecorder.record`` only appends a plain ``AuditEntry`` to a bounded
buffer (any thread), and a writer thread stores the buffer in one bulk
insert a cycle (the error writer's interval, ``VOICEBOT_ERROR_FLUSH_INTERVAL``).
Of each kind from each address, ``VOICEBOT_AUDIT_SAMPLE_RATE`` rows are
stored; beyond it occurrences are counted and stored as the ``count`` of one
row per cycle, so that a flood costs bounded writes and its size is kept.

A database that is down keeps the entries waiting (at most
``VOICEBOT_AUDIT_BUFFER_SIZE``; past it the oldest go, and a warning says how
many). With ``VOICEBOT_ERROR_WRITER = "manual"`` (the tests) there is no
writer thread: ``flush()`` stores.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from dataclasses import replace
from functools import cache

from django.conf import settings
from django.db import DatabaseError, connections

from audit.entries import AuditEntry
from audit.storage import audit_entries_store
from errors.throttle import FixedWindow, rate_parse

logger = logging.getLogger("voicebot.audit")

# Sample windows kept before the ended ones are forgotten.
SAMPLE_WINDOWS_MAX = 10_000


class AuditRecorder:
    def __init__(self) -> None:
        self._pending: deque[AuditEntry] = deque()
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], FixedWindow] = {}
        # (kind, address) -> (occurrences counted but not stored, the latest of them)
        self._folded: dict[tuple[str, str], tuple[int, AuditEntry]] = {}
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def record(self, entry: AuditEntry) -> None:
        key = (entry.kind, entry.address or entry.session_id)
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= SAMPLE_WINDOWS_MAX:
                    self._windows = {k: w for k, w in self._windows.items() if not w.ended(now)}
                window = self._windows[key] = FixedWindow(rate_parse(settings.VOICEBOT_AUDIT_SAMPLE_RATE))
            if window.hit(now) is None:
                if len(self._pending) >= settings.VOICEBOT_AUDIT_BUFFER_SIZE:
                    self._pending.popleft()
                    self.dropped += 1
                self._pending.append(entry)
            else:
                counted = self._folded.get(key)
                self._folded[key] = ((counted[0] if counted else 0) + 1, entry)
        if self._thread is None and settings.VOICEBOT_ERROR_WRITER == "background":
            self._start_writer()

    def waiting(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._folded)

    def flush(self) -> bool:
        """Store everything waiting, on the calling thread; True when all is stored."""
        with self._write_lock:
            with self._lock:
                entries = list(self._pending) + [replace(e, count=n) for n, e in self._folded.values()]
                self._pending.clear()
                self._folded = {}
                dropped, self.dropped = self.dropped, 0
            if dropped:
                logger.warning("%d security audit events were dropped while the database was unavailable", dropped)
            if not entries:
                return True
            try:
                audit_entries_store(entries=entries)
            except DatabaseError as exc:
                logger.warning("audit store unavailable (%s); %d events wait", type(exc).__name__, len(entries))
                with self._lock:
                    self._pending.extendleft(reversed(entries))
                return False
            return True

    def _start_writer(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="voicebot-audit-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(settings.VOICEBOT_ERROR_FLUSH_INTERVAL)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                logger.exception("audit writer failed; events stay buffered")
            finally:
                connections.close_all()

    def close(self) -> None:
        """Stop the writer and store what waits (at shutdown)."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=settings.VOICEBOT_ERROR_SHUTDOWN_TIMEOUT)
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - shutdown goes on
            logger.exception("audit writer failed at shutdown")

    def discard(self) -> None:
        """Forget everything waiting (between tests)."""
        with self._lock:
            self._pending.clear()
            self._folded = {}
            self._windows = {}
            self.dropped = 0


@cache
def audit_recorder() -> AuditRecorder:
    return AuditRecorder()


def audit_recorder_close() -> None:
    if audit_recorder.cache_info().currsize:
        audit_recorder().close()
