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

import logging
import threading
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
from errors.log_lines import folded_log
from errors.occurrence import Occurrence, occurrence_from_report
from errors.report import ErrorReport
from errors.services import error_occurrences_store
from errors.throttle import Sampler
from errors.writer import BackgroundWriter
from resilience.database import database

logger = logging.getLogger("voicebot.errors")

ERRORS_TOTAL = Counter(
    "voicebot_errors_total",
    "Errors reported to clients, by code, category and severity.",
    ["code", "category", "severity", "transport"],
)
ERRORS_STORED = Counter("voicebot_error_events_stored_total", "Error occurrences written to the database.")
ERRORS_SAMPLED = Counter(
    "voicebot_error_events_sampled_total",
    "Error occurrences counted in their group but not stored as a row (added at each write of the error store).",
)
ERRORS_WAITING = Gauge(
    "voicebot_error_events_waiting", "Error occurrences waiting in memory for the database.", multiprocess_mode="livesum"
)


# Sample windows kept before the ended ones are forgotten (one per error group seen).
SAMPLE_WINDOWS_MAX = 10_000


class ErrorRecorder:
    """Base class: receives every report; must never raise or block."""

    def __init__(self) -> None:
        # ERRORS_TOTAL's child per label values: ``labels()`` checks and converts
        # its arguments and takes a lock on every call, a tenth of a report's cost.
        self._counted: dict[tuple[str, str, str, str], Any] = {}

    def record(self, report: ErrorReport) -> bool:
        """Count (and keep) ``report``; True when it is kept whole, and so gets its own log line.

        False: it was folded into its group's count beyond the sample, and
        is logged with the rest of them (errors.log_lines).
        """
        error = report.error
        key = (error.code, error.category, error.severity, report.transport)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = ERRORS_TOTAL.labels(*key)
        counter.inc()
        return True

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
        super().__init__()
        self.buffer = OccurrenceBuffer(
            capacity=settings.VOICEBOT_ERROR_BUFFER_SIZE, spill_path=Path(settings.VOICEBOT_ERROR_SPILL_PATH)
        )
        self.batch_size = settings.VOICEBOT_ERROR_BATCH_SIZE
        self.flush_interval = settings.VOICEBOT_ERROR_FLUSH_INTERVAL
        sample_rate = settings.VOICEBOT_ERROR_SAMPLE_RATE
        # One window per group (fingerprint); beyond it occurrences are folded into a count.
        self.sampler = Sampler(lambda: sample_rate, max_keys=SAMPLE_WINDOWS_MAX,
                               max_tags=settings.VOICEBOT_ERROR_FOLDED_IDS_MAX)
        self._write_lock = threading.Lock()
        self.writer = BackgroundWriter(
            "voicebot-error-writer", interval=lambda: self.flush_interval, flush=self._write_pending,
            close=self.close, logger=logger,
        )
        self.stored_total = 0

    # --- Any thread -----------------------------------------------------

    def record(self, report: ErrorReport) -> bool:
        super().record(report)
        whole = self.sampler.admit(report_fingerprint(report), report, tag=report.correlation_id)
        if whole:
            self.buffer.put(occurrence_from_report(report))
            ERRORS_WAITING.set(self.buffer.memory_size())
        # Else nothing more waits in memory (the gauge stands), and the fold is
        # counted in ERRORS_SAMPLED when the writer takes it: a counter's inc per
        # report beyond the sample is about 50 bytecodes and a lock.
        self.writer.start_unless_manual()
        return whole

    def start(self) -> None:
        """Start the writer now if an earlier process left occurrences on disk."""
        if settings.VOICEBOT_ERROR_WRITER == "background" and self.buffer.has_spilled():
            self.writer.start()

    def flush(self) -> bool:
        """Write everything waiting now, on the calling thread; True when all is stored."""
        return self._write_pending()

    def waiting(self) -> int:
        """Occurrences waiting in memory (spilled ones not included)."""
        return self.buffer.memory_size() + self.sampler.folded_keys()

    # --- The writer -----------------------------------------------------

    def _collect_sampled(self) -> None:
        """The occurrences counted but not stored become one weighted event, and log lines, per group.

        The event is the latest occurrence's; its context lists the
        correlation ids of all it stands for (``FOLDED_IDS``), so that an id a
        client was given can be found in the admin as in the log.
        """
        for folded in self.sampler.take_folded():
            ERRORS_SAMPLED.inc(folded.count)
            report = folded.latest
            occurrence = occurrence_from_report(report).with_folded(folded.count, folded.tags)
            self.buffer.put(occurrence)
            if not settings.VOICEBOT_ERROR_LOG_EVERY:
                folded_log(report, folded.count, folded.tags)

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
        if self.writer.in_thread():
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
        self.writer.stop(settings.VOICEBOT_ERROR_SHUTDOWN_TIMEOUT)
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
        self.sampler.clear()
        self.buffer.discard()


@cache
def get_recorder() -> ErrorRecorder:
    recorder_class = import_string(settings.VOICEBOT_ERROR_RECORDER)
    return recorder_class()


def recorder_close() -> None:
    """Close this process's recorder, if it has one (at shutdown; see ops.lifespan)."""
    if get_recorder.cache_info().currsize:
        get_recorder().close()
