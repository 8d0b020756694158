"""Spill files: where occurrences wait on disk, one file per process, safe with many processes.

Every server process spills into a file of its own beside
``VOICEBOT_ERROR_SPILL_PATH`` (``error-spill.<owner>.jsonl`` for
``error-spill.jsonl``) and holds an exclusive ``flock`` on the file's
``.lock`` from its first spill until it exits; the kernel releases the lock
when the process dies, however it dies. A file whose lock can be taken is
therefore a dead process's (or one written before files had owners): the
next process that finds it takes the lock, drains it and deletes it. Two
live processes never read the same file, so each occurrence is stored once.

Reading a file is resumable: it is renamed aside (``.draining``) before it is
read and the offset reached is kept beside it (``.offset``), so a process
that dies while draining leaves the rest for the next.
"""
from __future__ import annotations

import fcntl
import logging
import os
import uuid
from pathlib import Path

from errors.occurrence import Occurrence

logger = logging.getLogger("voicebot.errors")

DRAINING = ".draining"
OFFSET = ".offset"
LOCK = ".lock"
REJECTED = ".rejected"


class SpillFile:
    """One spill file (its data, draining and offset files), read and acknowledged in batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.draining = path.with_name(path.name + DRAINING)
        self.offset_path = path.with_name(path.name + OFFSET)

    def append(self, text: str, *, sync: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as spill:
            spill.write(text)
            spill.flush()
            if sync:
                os.fsync(spill.fileno())

    def has_data(self) -> bool:
        return self.draining.exists() or (self.path.exists() and self.path.stat().st_size > 0)

    def take(self, limit: int) -> tuple[list[Occurrence], int | None]:
        """Up to ``limit`` occurrences and the offset after them (None when the file holds no more)."""
        if not self.draining.exists():
            if not self.path.exists() or self.path.stat().st_size == 0:
                return [], None
            os.replace(self.path, self.draining)
            self.offset_path.unlink(missing_ok=True)
        offset = self._offset()
        occurrences: list[Occurrence] = []
        with open(self.draining, encoding="utf-8") as draining:
            draining.seek(offset)
            while len(occurrences) < limit:
                line = draining.readline()
                if not line or not line.endswith("\n"):
                    break  # the end, or a line cut short by a crash mid-write: nothing after it
                offset += len(line.encode("utf-8"))
                try:
                    occurrences.append(Occurrence.from_line(line))
                except (ValueError, TypeError, KeyError):
                    logger.error("unreadable line in %s skipped: %.200r", self.draining, line)
        if not occurrences:
            self.forget()
            return [], None
        return occurrences, offset

    def acknowledge(self, offset: int) -> None:
        """The occurrences before ``offset`` are stored: never read them again."""
        if not self.draining.exists():
            return
        if offset >= self.draining.stat().st_size:
            self.draining.unlink(missing_ok=True)
            self.offset_path.unlink(missing_ok=True)
        else:
            self.offset_path.write_text(str(offset), encoding="utf-8")

    def _offset(self) -> int:
        try:
            return int(self.offset_path.read_text(encoding="utf-8").strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def forget(self) -> None:
        for path in (self.path, self.draining, self.offset_path):
            path.unlink(missing_ok=True)


class OwnedSpill:
    """A spill file held by this process, under an exclusive lock kept open until it is released."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.file = SpillFile(path)
        self.lock_path = path.with_name(path.name + LOCK)
        self._lock_fd: int | None = lock_fd

    @classmethod
    def claim(cls, path: Path) -> OwnedSpill | None:
        """Lock ``path``'s lock file; None when another live process holds it."""
        lock_path = path.with_name(path.name + LOCK)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return cls(path, fd)

    def release(self, *, delete: bool) -> None:
        """Let the lock go; with ``delete`` the file is drained and gone with its lock file."""
        if self._lock_fd is None:
            return
        if delete:
            self.file.forget()
            self.lock_path.unlink(missing_ok=True)
        os.close(self._lock_fd)
        self._lock_fd = None


class SpillDirectory:
    """This process's own spill file and the ones of dead processes beside it."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.own_path = self.base.with_name(f"{self.base.stem}.{self.owner}{self.base.suffix}")
        self.own: OwnedSpill | None = None

    def own_file(self) -> SpillFile:
        """This process's file, locked at the first use (before anything is written to it)."""
        if self.own is None:
            claimed = OwnedSpill.claim(self.own_path)
            if claimed is None:  # cannot happen for a name of our own; refuse rather than share
                raise OSError(f"spill file {self.own_path} is locked by another process")
            self.own = claimed
        return self.own.file

    def rejected_path(self) -> Path:
        return self.own_path.with_name(self.own_path.name + REJECTED)

    def orphans(self) -> list[Path]:
        """Spill files beside ours whose owner may be gone (or that never had one), oldest first."""
        return [path for path in spill_files(self.base) if path != self.own_path]

    def adopt(self, path: Path) -> OwnedSpill | None:
        """Take a dead owner's file (its lock); None when its owner lives or it holds nothing."""
        claimed = OwnedSpill.claim(path)
        if claimed is None:
            return None
        if not claimed.file.has_data():
            claimed.release(delete=True)
            return None
        return claimed

    def close(self) -> None:
        if self.own is not None:
            self.own.release(delete=not self.own.file.has_data())
            self.own = None


def spill_files(base: Path) -> list[Path]:
    """Every spill file of ``base`` (each process's, and ``base`` itself), oldest first, whether or not it holds data."""
    if not base.parent.is_dir():
        return []
    found: set[Path] = set()
    for candidate in base.parent.glob(f"{base.stem}*{base.suffix}*"):
        name = candidate.name
        if name.endswith(REJECTED):
            continue
        for ending in (DRAINING, OFFSET, LOCK):
            if name.endswith(ending):
                name = name[: -len(ending)]
                break
        if name.endswith(base.suffix):
            found.add(candidate.with_name(name))
    return sorted(found, key=_age)


def spilled(base: Path) -> list[Path]:
    """The spill files of ``base`` that hold occurrences."""
    return [path for path in spill_files(base) if SpillFile(path).has_data()]


def _age(path: Path) -> float:
    for candidate in (path.with_name(path.name + DRAINING), path, path.with_name(path.name + LOCK)):
        try:
            return candidate.stat().st_mtime
        except FileNotFoundError:
            continue
    return 0.0
