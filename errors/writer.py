"""A writer thread: stores what a recorder holds every interval, off every caller's thread.

Used by the error recorder and the security audit recorder. Each cycle runs
``flush`` and then closes the thread's database connections (never an idle
connection held open between cycles, none left behind a database restart).
A failing cycle is logged and the next one tries again.
"""
from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable

from django.db import connections

from voicebot_site.settings_snapshot import SettingsSnapshot

# "background" (a thread per recorder) or "manual" (the tests: stored by flush() only).
WRITER_SETTINGS = SettingsSnapshot(mode="VOICEBOT_ERROR_WRITER")


class BackgroundWriter:
    def __init__(self, name: str, *, interval: Callable[[], float], flush: Callable[[], object],
                 close: Callable[[], None], logger: logging.Logger) -> None:
        self.name = name
        self._interval = interval
        self._flush = flush
        self._close = close
        self._logger = logger
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once); the owner's ``close`` runs at exit."""
        with self._lock:
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self.thread.start()
            atexit.register(self._close)

    def start_unless_manual(self) -> None:
        """``start`` on a recorder's record, unless VOICEBOT_ERROR_WRITER is "manual" (checked on every record)."""
        if self.thread is None and WRITER_SETTINGS.mode == "background":
            self.start()

    @property
    def started(self) -> bool:
        return self.thread is not None

    def _run(self) -> None:
        while not self.stopping.is_set():
            self._wake.wait(self._interval())
            self._wake.clear()
            if self.stopping.is_set():
                return
            try:
                self._flush()
            except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                self._logger.exception("%s failed; what it holds stays buffered", self.name)
            finally:
                connections.close_all()

    def stop(self, timeout: float) -> None:
        """End the thread, waiting up to ``timeout`` seconds for its cycle (not from the thread itself)."""
        self.stopping.set()
        self._wake.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def in_thread(self) -> bool:
        return threading.current_thread() is self.thread
