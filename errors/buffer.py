"""Where occurrences wait for the database: memory first, then a local file.

``OccurrenceBuffer`` holds up to ``capacity`` occurrences in memory. When it
is full, the older half is appended to this process's spill file (JSON
lines, append-only; see errors.spill) in one write, so that nothing is lost
while the database is down and memory stays bounded. The writer takes
batches (spilled ones first: they are older, then the files dead processes
left behind) and acknowledges each one once it is stored; a batch that
failed is handed back and taken again later.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from errors.occurrence import Occurrence
from errors.spill import OwnedSpill, SpillDirectory, SpillFile

logger = logging.getLogger("voicebot.errors")


@dataclass(slots=True)
class Batch:
    """Occurrences taken for one write, and where they came from."""

    occurrences: list[Occurrence]
    from_memory: list[Occurrence] = field(default_factory=list)
    # For occurrences read from a spill file: that file and the offset after them.
    source: SpillFile | None = None
    file_offset: int | None = None


class OccurrenceBuffer:
    def __init__(self, *, capacity: int, spill_path: Path) -> None:
        self.capacity = max(2, capacity)
        self.spill = SpillDirectory(Path(spill_path))
        self._memory: deque[Occurrence] = deque()
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()
        # A dead process's spill file being drained, held under its lock.
        self._adopted: OwnedSpill | None = None
        self.spilled_total = 0

    @property
    def spill_path(self) -> Path:
        """This process's own spill file."""
        return self.spill.own_path

    # --- Producers (any thread) ----------------------------------------

    def put(self, occurrence: Occurrence) -> None:
        with self._lock:
            self._memory.append(occurrence)
            if len(self._memory) < self.capacity:
                return
            overflow = [self._memory.popleft() for _ in range(self.capacity // 2)]
        self._spill_or_keep(overflow)

    def put_back(self, batch: Batch) -> None:
        """Hand back a batch that could not be stored (it is taken again first)."""
        if batch.from_memory:
            with self._lock:
                self._memory.extendleft(reversed(batch.from_memory))
                overflow: list[Occurrence] = []
                while len(self._memory) >= self.capacity:
                    overflow.append(self._memory.popleft())
            if overflow:
                self._spill_or_keep(overflow)

    def spill_all(self) -> int:
        """Move everything in memory to the spill file (shutdown with the database down)."""
        with self._lock:
            everything = list(self._memory)
            self._memory.clear()
        if everything:
            self._spill(everything, sync=True)
        return len(everything)

    def _spill_or_keep(self, occurrences: list[Occurrence]) -> None:
        """Spill; if the file cannot be written, keep them in memory past capacity rather than lose them."""
        try:
            self._spill(occurrences, sync=False)
        except OSError:
            logger.exception("error spill file %s cannot be written; %d occurrences kept in memory",
                             self.spill_path, len(occurrences))
            with self._lock:
                self._memory.extendleft(reversed(occurrences))

    def _spill(self, occurrences: list[Occurrence], *, sync: bool) -> None:
        # A spill while serving may run on the event loop's thread: it is one
        # buffered append, left to the OS (it survives the process dying).
        # The spill at shutdown is also synced to the disk.
        text = "".join(occurrence.to_line() + "\n" for occurrence in occurrences)
        with self._file_lock:
            self.spill.own_file().append(text, sync=sync)
            self.spilled_total += len(occurrences)
        logger.warning("error buffer full: %d occurrences spilled to %s", len(occurrences), self.spill_path)

    # --- The writer (one thread) ---------------------------------------

    def take(self, limit: int) -> Batch:
        """Up to ``limit`` occurrences: from this process's spill file, then dead processes', then memory."""
        batch = self._take_from_files(limit)
        if batch.occurrences:
            return batch
        with self._lock:
            taken = [self._memory.popleft() for _ in range(min(limit, len(self._memory)))]
        return Batch(occurrences=taken, from_memory=taken)

    def acknowledge(self, batch: Batch) -> None:
        """The batch is stored: forget it for good."""
        if batch.source is None or batch.file_offset is None:
            return
        with self._file_lock:
            batch.source.acknowledge(batch.file_offset)
            adopted = self._adopted
            if adopted is not None and batch.source is adopted.file and not adopted.file.has_data():
                adopted.release(delete=True)
                self._adopted = None

    def _take_from_files(self, limit: int) -> Batch:
        with self._file_lock:
            if self.spill.own is not None:
                occurrences, offset = self.spill.own.file.take(limit)
                if occurrences:
                    return Batch(occurrences=occurrences, source=self.spill.own.file, file_offset=offset)
            while True:
                if self._adopted is None:
                    self._adopted = self._adopt_next()
                    if self._adopted is None:
                        return Batch(occurrences=[])
                    logger.info("draining error spill file %s left by a process that is gone", self._adopted.file.path)
                occurrences, offset = self._adopted.file.take(limit)
                if occurrences:
                    return Batch(occurrences=occurrences, source=self._adopted.file, file_offset=offset)
                self._adopted.release(delete=True)
                self._adopted = None

    def _adopt_next(self) -> OwnedSpill | None:
        for path in self.spill.orphans():
            adopted = self.spill.adopt(path)
            if adopted is not None:
                return adopted
        return None

    # --- State ----------------------------------------------------------

    def memory_size(self) -> int:
        return len(self._memory)

    def has_spilled(self) -> bool:
        """Whether this process's file, or one a dead process left, holds occurrences."""
        with self._file_lock:
            if self._holds_spilled():
                return True
            self._adopted = self._adopt_next()
            return self._adopted is not None

    def _holds_spilled(self) -> bool:
        return (self.spill.own is not None and self.spill.own.file.has_data()) or (
            self._adopted is not None and self._adopted.file.has_data()
        )

    def is_empty(self) -> bool:
        return not self._memory and not self.has_spilled()

    def release(self) -> None:
        """Nothing more will be spilled (the process is stopping): another process may take the file now."""
        with self._file_lock:
            self.spill.close()

    def discard(self) -> None:
        """Forget everything this process holds, in memory and on disk (between tests)."""
        with self._lock:
            self._memory.clear()
        with self._file_lock:
            if self.spill.own is not None:
                self.spill.own.file.forget()
            if self._adopted is not None:
                self._adopted.release(delete=True)
                self._adopted = None
