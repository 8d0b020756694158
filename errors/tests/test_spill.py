"""Spill files: resumable draining, one file per process, dead processes' files taken exactly once."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings

from errors.buffer import OccurrenceBuffer
from errors.occurrence import Occurrence
from errors.spill import OwnedSpill, SpillFile, spilled


def occurrence(correlation_id: str) -> Occurrence:
    return Occurrence(
        fingerprint="f", code="invalid_message", category="validation", severity="low", title="t", where="w",
        transport="websocket", occurred_at=datetime.now(timezone.utc), correlation_id=correlation_id, message="m",
    )


def worker(base: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "errors.tests.spill_worker", str(base), *args],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def taken_by(process: subprocess.Popen[str]) -> list[str]:
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
    return out.split()


def test_a_drain_cut_short_resumes_at_the_offset_it_reached(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "spill.jsonl")
    spill.append("".join(occurrence(f"c{i}").to_line() + "\n" for i in range(5)), sync=True)
    first, offset = spill.take(2)
    assert [o.correlation_id for o in first] == ["c0", "c1"]
    assert offset is not None
    spill.acknowledge(offset)
    # A new reader (the next process) starts after what was acknowledged.
    again = SpillFile(tmp_path / "spill.jsonl")
    rest, offset = again.take(10)
    assert [o.correlation_id for o in rest] == ["c2", "c3", "c4"]
    again.acknowledge(offset)  # type: ignore[arg-type]
    assert not again.has_data() and not list(tmp_path.iterdir())


def test_a_line_cut_short_by_a_crash_and_an_unreadable_line_are_skipped(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "spill.jsonl")
    spill.append(occurrence("ok").to_line() + "\n" + "{not json}\n" + occurrence("cut").to_line()[:30], sync=True)
    taken, offset = spill.take(10)
    assert [o.correlation_id for o in taken] == ["ok"]
    spill.acknowledge(offset)  # type: ignore[arg-type]
    # The cut line is not an occurrence; nothing is read twice.
    assert spill.take(10) == ([], None)


def test_a_live_process_spill_file_is_never_taken(tmp_path: Path) -> None:
    base = tmp_path / "error-spill.jsonl"
    mine = OccurrenceBuffer(capacity=2, spill_path=base)
    mine.put(occurrence("a"))
    mine.put(occurrence("b"))  # full: spilled to mine's file
    other = OccurrenceBuffer(capacity=2, spill_path=base)
    assert other.take(10).occurrences == []
    assert not other.has_spilled()
    assert OwnedSpill.claim(mine.spill_path) is None
    batch = mine.take(10)
    assert [o.correlation_id for o in batch.occurrences] == ["a"]


def test_two_processes_spilling_and_draining_at_once_each_take_their_own_once(tmp_path: Path) -> None:
    base = tmp_path / "error-spill.jsonl"
    first, second = worker(base, "both", "200", "p1"), worker(base, "both", "200", "p2")
    taken = taken_by(first) + taken_by(second)
    counts = Counter(taken)
    assert len(counts) == 400 and set(counts.values()) == {1}
    assert spilled(base) == []


def test_the_files_of_processes_killed_are_taken_exactly_once_by_the_next(tmp_path: Path) -> None:
    base = tmp_path / "error-spill.jsonl"
    for tag in ("dead1", "dead2"):
        killed = worker(base, "spill", "150", tag)
        killed.communicate(timeout=60)
        assert killed.returncode == -9
    assert len(spilled(base)) == 2
    # Two processes start at once and both look for what the dead left.
    drainers = [worker(base, "drain"), worker(base, "drain")]
    taken = [correlation_id for drainer in drainers for correlation_id in taken_by(drainer)]
    counts = Counter(taken)
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert spilled(base) == []
    assert not list(tmp_path.glob("*.lock"))  # the dead processes' locks went with their files


def test_a_file_from_before_files_had_owners_is_drained(tmp_path: Path) -> None:
    base = tmp_path / "error-spill.jsonl"
    SpillFile(base).append(occurrence("legacy").to_line() + "\n", sync=True)
    buffer = OccurrenceBuffer(capacity=10, spill_path=base)
    assert buffer.has_spilled()
    batch = buffer.take(10)
    assert [o.correlation_id for o in batch.occurrences] == ["legacy"]
    buffer.acknowledge(batch)
    assert spilled(base) == []
