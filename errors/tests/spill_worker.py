"""A process that spills error occurrences and drains spill files, for the spill tests.

    python -m errors.tests.spill_worker BASE spill COUNT TAG    # spill COUNT, then die by SIGKILL
    python -m errors.tests.spill_worker BASE both COUNT TAG     # spill COUNT, then drain while others do
    python -m errors.tests.spill_worker BASE drain              # drain what dead processes left

Every occurrence taken is printed as its correlation id, one per line, once
its batch is acknowledged.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from errors.buffer import OccurrenceBuffer
from errors.occurrence import Occurrence


def occurrence(correlation_id: str) -> Occurrence:
    return Occurrence(
        fingerprint="f", code="invalid_message", category="validation", severity="low", title="t", where="w",
        transport="websocket", occurred_at=datetime.now(timezone.utc), correlation_id=correlation_id, message="m",
    )


def drain(buffer: OccurrenceBuffer, *, quiet_for: float) -> None:
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < quiet_for:
        batch = buffer.take(3)
        if not batch.occurrences:
            time.sleep(0.01)
            continue
        buffer.acknowledge(batch)
        for taken in batch.occurrences:
            print(taken.correlation_id, flush=True)
        idle_since = time.monotonic()


def main(base: str, mode: str, count: str = "0", tag: str = "") -> None:
    # A small memory: nearly everything is spilled to this process's file.
    buffer = OccurrenceBuffer(capacity=4, spill_path=Path(base))
    for index in range(int(count)):
        buffer.put(occurrence(f"{tag}-{index}"))
    buffer.spill_all()
    if mode == "spill":
        os.kill(os.getpid(), signal.SIGKILL)
    drain(buffer, quiet_for=1.0)


if __name__ == "__main__":
    main(*sys.argv[1:])
