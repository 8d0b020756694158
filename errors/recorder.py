"""Where every error report goes: counted for /metrics, and stored for staff.

``settings.VOICEBOT_ERROR_RECORDER`` names the recorder class (one instance
per process). ``DatabaseRecorder``, the default, stores each report as an
``ErrorEvent`` of its ``ErrorGroup`` without ever touching the database on
the caller's thread:

- ``record`` (any thread, the event loop included) makes a plain
  ``Occurrence`` and puts it in a bounded buffer that spills to a local file
  when full; beyond ``VOICEBOT_ERROR_SAMPLE_RATE`` occurrences of one group,
  it only counts them, and the count is stored as the ``weight`` of one
  event per write, so that group counts stay exact under a storm;
- a writer thread takes batches and stores each in one transaction (bulk
  insert, one UPDATE per group) through the database's guard
  (resilience.database): retried with exponential backoff and jitter, and
  while its circuit breaker is open the occurrences wait instead of
  hammering a database that is down; a batch the database refuses is set
  aside and never blocks the rest;
- at shutdown (uvicorn: the ASGI lifespan shutdown, see ops.lifespan; daphne
  stops on SIGTERM, then the interpreter runs ``atexit``) whatever waits is
  written, or, with the database down, synced to the spill file, which the
  next process drains.

With ``VOICEBOT_ERROR_WRITER = "manual"`` there is no writer thread and
occurrences wait until ``flush()`` (the test suite uses this to store
deterministically).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string
from prometheus_client import Counter, Gauge

from errors.buffer import Batch, OccurrenceBuffer
from errors.exceptions import DatabaseUnavailableError
from errors.grouping import report_fingerprint
from errors.occurrence import Occurrence, occurrence_from_report
from errors.report import ErrorReport
from errors.services import error_occurrences_store
from errors.throttle import FixedWindow, rate_parse
from resilience.database import database

logger = logging.getLogger("voicebot.errors")

ERRORS_TOTAL = Counter(
    "voicebot_errors_total",
    "Errors reported to clients, by code, category and severity.",
    ["code", "category", "severity", "transport"],
)
ERRORS_STORED = Counter("voicebot_error_events_stored_total", "Error occurrences written to the database.")
ERRORS_SAMPLED = Counter(
    "voicebot_error_events_sampled_total", "Error occurrences counted in their group but not stored as a row."
)
ERRORS_WAITING = Gauge(
    "voicebot_error_events_waiting", "Error occurrences waiting in memory for the database.", multiprocess_mode="livesum"
)


# Sample windows kept before the ended ones are forgotten (one per error group seen).
SAMPLE_WINDOWS_MAX = 10_000


class ErrorRecorder:
    """Base class: receives every report; must never raise or block."""

    def record(self, report: ErrorReport) -> None:
        ERRORS_TOTAL.labels(
            report.error.code,
            report.error.category,
            report.error.severity,
            report.transport,
        ).inc()

    def flush(self) -> bool:
        """Write whatever waits; True when nothing is left waiting."""
        return True

    async def aflush(self) -> bool:
        return await sync_to_async(self.flush, thread_sensitive=True)()

    def start(self) -> None:
        """The serving process is up (called once the HTTP stack is built)."""

    def close(self) -> None:
        """Last chance before the process exits."""


class MetricsRecorder(ErrorRecorder):
    """Counts errors for /metrics and keeps nothing else."""


class DatabaseRecorder(ErrorRecorder):
    """Stores every report, in batches, from a writer thread (see the module doc)."""

    def __init__(self) -> None:
        self.buffer = OccurrenceBuffer(
            capacity=settings.VOICEBOT_ERROR_BUFFER_SIZE, spill_path=Path(settings.VOICEBOT_ERROR_SPILL_PATH)
        )
        self.batch_size = settings.VOICEBOT_ERROR_BATCH_SIZE
        self.flush_interval = settings.VOICEBOT_ERROR_FLUSH_INTERVAL
        self.sample_limit = rate_parse(settings.VOICEBOT_ERROR_SAMPLE_RATE)
        # One window per group (fingerprint), under a lock: record() runs on any thread.
        self._windows: dict[str, FixedWindow] = {}
        self._windows_lock = threading.Lock()
        # fingerprint -> (occurrences counted but not stored, the latest of them)
        self._sampled: dict[str, tuple[int, ErrorReport]] = {}
        self._sampled_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.stored_total = 0

    # --- Any thread -----------------------------------------------------

    def record(self, report: ErrorReport) -> None:
        super().record(report)
        fingerprint = report_fingerprint(report)
        if self._sample(fingerprint):
            self.buffer.put(occurrence_from_report(report))
        else:
            ERRORS_SAMPLED.inc()
            with self._sampled_lock:
                counted = self._sampled.get(fingerprint)
                self._sampled[fingerprint] = ((counted[0] if counted else 0) + 1, report)
        ERRORS_WAITING.set(self.buffer.memory_size())
        if self._thread is None and settings.VOICEBOT_ERROR_WRITER == "background":
            self._start_writer()

    def _sample(self, fingerprint: str) -> bool:
        """Whether this occurrence is stored on its own (the group is within its sample rate)."""
        now = time.monotonic()
        with self._windows_lock:
            window = self._windows.get(fingerprint)
            if window is None:
                if len(self._windows) >= SAMPLE_WINDOWS_MAX:
                    # Forget the groups whose window is over (a new one would open anyway).
                    self._windows = {f: w for f, w in self._windows.items() if not w.ended(now)}
                window = self._windows[fingerprint] = FixedWindow(self.sample_limit)
            return window.hit(now) is None

    def start(self) -> None:
        """Start the writer now if an earlier process left occurrences on disk."""
        if settings.VOICEBOT_ERROR_WRITER == "background" and self.buffer.has_spilled():
            self._start_writer()

    def flush(self) -> bool:
        """Write everything waiting now, on the calling thread; True when all is stored."""
        return self._write_pending()

    def waiting(self) -> int:
        """Occurrences waiting in memory (spilled ones not included)."""
        return self.buffer.memory_size() + len(self._sampled)

    # --- The writer -----------------------------------------------------

    def _start_writer(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="voicebot-error-writer", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._write_pending()
            except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                logger.exception("error writer failed; occurrences stay buffered")
            finally:
                # One connection per write cycle: never an idle connection held
                # open between cycles, none left behind a database restart.
                connections.close_all()

    def _collect_sampled(self) -> None:
        """The occurrences counted but not stored become one weighted event per group."""
        with self._sampled_lock:
            sampled, self._sampled = self._sampled, {}
        for count, report in sampled.values():
            self.buffer.put(occurrence_from_report(report).with_weight(count))

    def _write_pending(self, *, lock_timeout: float = -1) -> bool:
        if not self._write_lock.acquire(timeout=lock_timeout):
            return False
        try:
            self._collect_sampled()
            while True:
                batch = self.buffer.take(self.batch_size)
                if not batch.occurrences:
                    ERRORS_WAITING.set(self.buffer.memory_size())
                    return True
                try:
                    stored = self._store(batch.occurrences)
                except DatabaseUnavailableError as exc:
                    self.buffer.put_back(batch)
                    logger.warning(
                        "error store unavailable (%s); %d occurrences wait (breaker %s)",
                        exc.context.get("exception", "breaker open"), self.buffer.memory_size(),
                        database().state,
                    )
                    return False
                except Exception:  # noqa: BLE001 - a batch the database refuses must not block the rest
                    logger.exception("error store refused a batch; it is kept in %s", self._rejected_path())
                    self._keep_rejected(batch)
                    self.buffer.acknowledge(batch)
                    continue
                self.buffer.acknowledge(batch)
                self.stored_total += stored
                ERRORS_STORED.inc(len(batch.occurrences))
        finally:
            self._write_lock.release()

    def _store(self, occurrences: list[Occurrence]) -> int:
        """One batch in one transaction, through the database's guard, retried.

        Retrying is safe: the batch is one transaction, so a failed attempt
        stored nothing. The guard stops retrying once the breaker opens.
        """
        return database().call_sync(
            lambda: error_occurrences_store(occurrences=occurrences), retry=True, on_failure=self._reconnect
        )

    def _reconnect(self, exc: BaseException) -> None:
        if threading.current_thread() is self._thread:
            connections.close_all()  # a fresh connection for the next attempt

    def _rejected_path(self) -> Path:
        return self.buffer.spill.rejected_path()

    def _keep_rejected(self, batch: Batch) -> None:
        path = self._rejected_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as rejected:
            rejected.write("".join(o.to_line() + "\n" for o in batch.occurrences))

    def close(self) -> None:
        """Stop the writer; store what waits, or sync it to the spill file."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=settings.VOICEBOT_ERROR_SHUTDOWN_TIMEOUT)
        stored_all = False
        try:
            stored_all = self._write_pending(lock_timeout=settings.VOICEBOT_ERROR_SHUTDOWN_TIMEOUT)
        except Exception:  # noqa: BLE001 - whatever happens, spill below
            logger.exception("error writer failed at shutdown")
        if not stored_all:
            self._collect_sampled()
            spilled = self.buffer.spill_all()
            if spilled:
                logger.warning("%d error occurrences kept in %s for the next start", spilled, self.buffer.spill_path)
        self.buffer.release()

    def discard(self) -> None:
        """Forget everything waiting (between tests)."""
        with self._sampled_lock:
            self._sampled = {}
        self.buffer.discard()
        with self._windows_lock:
            self._windows = {}


@cache
def get_recorder() -> ErrorRecorder:
    recorder_class = import_string(settings.VOICEBOT_ERROR_RECORDER)
    return recorder_class()


def recorder_close() -> None:
    """Close this process's recorder, if it has one (at shutdown; see ops.lifespan)."""
    if get_recorder.cache_info().currsize:
        get_recorder().close()
