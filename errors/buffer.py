"""Where occurrences wait for the database: memory first, then a local file.

``OccurrenceBuffer`` holds up to ``capacity`` occurrences in memory. When it
is full, the older half is appended to a spill file (JSON lines, append-only)
in one write, so that nothing is lost while the database is down and memory
stays bounded. The writer takes batches (spilled ones first: they are older)
and acknowledges each one once it is stored; a batch that failed is handed
back and taken again later. Reading a spill file is resumable: the file is
renamed aside before it is read and the offset reached is kept beside it, so
a process that dies while draining picks up where it stopped.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from errors.occurrence import Occurrence

logger = logging.getLogger("voicebot.errors")


@dataclass(slots=True)
class Batch:
    """Occurrences taken for one write, and where they came from."""

    occurrences: list[Occurrence]
    from_memory: list[Occurrence] = field(default_factory=list)
    # For occurrences read from the draining file: the offset after them.
    file_offset: int | None = None


class OccurrenceBuffer:
    def __init__(self, *, capacity: int, spill_path: Path) -> None:
        self.capacity = max(2, capacity)
        self.spill_path = Path(spill_path)
        self.draining_path = self.spill_path.with_name(self.spill_path.name + ".draining")
        self.offset_path = self.spill_path.with_name(self.spill_path.name + ".offset")
        self._memory: deque[Occurrence] = deque()
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()
        self.spilled_total = 0

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
            self.spill_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.spill_path, "a", encoding="utf-8") as spill:
                spill.write(text)
                spill.flush()
                if sync:
                    os.fsync(spill.fileno())
            self.spilled_total += len(occurrences)
        logger.warning("error buffer full: %d occurrences spilled to %s", len(occurrences), self.spill_path)

    # --- The writer (one thread) ---------------------------------------

    def take(self, limit: int) -> Batch:
        """Up to ``limit`` occurrences: from spill files first, then from memory."""
        batch = self._take_from_file(limit)
        if batch.occurrences:
            return batch
        with self._lock:
            taken = [self._memory.popleft() for _ in range(min(limit, len(self._memory)))]
        return Batch(occurrences=taken, from_memory=taken)

    def acknowledge(self, batch: Batch) -> None:
        """The batch is stored: forget it for good."""
        if batch.file_offset is None:
            return
        with self._file_lock:
            if batch.file_offset >= self.draining_path.stat().st_size:
                self.draining_path.unlink()
                self.offset_path.unlink(missing_ok=True)
            else:
                self.offset_path.write_text(str(batch.file_offset), encoding="utf-8")

    def _take_from_file(self, limit: int) -> Batch:
        with self._file_lock:
            if not self.draining_path.exists():
                if not self.spill_path.exists() or self.spill_path.stat().st_size == 0:
                    return Batch(occurrences=[])
                os.replace(self.spill_path, self.draining_path)
                self.offset_path.unlink(missing_ok=True)
            offset = self._draining_offset()
            occurrences: list[Occurrence] = []
            with open(self.draining_path, encoding="utf-8") as draining:
                draining.seek(offset)
                while len(occurrences) < limit:
                    line = draining.readline()
                    if not line:
                        break
                    if not line.endswith("\n"):
                        break  # a line cut short by a crash mid-write: nothing after it
                    offset += len(line.encode("utf-8"))
                    try:
                        occurrences.append(Occurrence.from_line(line))
                    except (ValueError, TypeError, KeyError):
                        logger.error("unreadable line in %s skipped: %.200r", self.draining_path, line)
            if not occurrences:
                self.draining_path.unlink()
                self.offset_path.unlink(missing_ok=True)
                return Batch(occurrences=[])
            return Batch(occurrences=occurrences, file_offset=offset)

    def _draining_offset(self) -> int:
        try:
            return int(self.offset_path.read_text(encoding="utf-8").strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    # --- State ----------------------------------------------------------

    def memory_size(self) -> int:
        return len(self._memory)

    def has_spilled(self) -> bool:
        return self.draining_path.exists() or (self.spill_path.exists() and self.spill_path.stat().st_size > 0)

    def is_empty(self) -> bool:
        return not self._memory and not self.has_spilled()

    def discard(self) -> None:
        """Forget everything waiting, in memory and on disk (between tests)."""
        with self._lock:
            self._memory.clear()
        with self._file_lock:
            for path in (self.spill_path, self.draining_path, self.offset_path):
                path.unlink(missing_ok=True)
