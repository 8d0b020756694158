"""A socket's deferred channel-layer work: in order, off the frame loop, failures told as the frame's error."""
from __future__ import annotations

import asyncio

from signaling.deferred import DEFERRED_MAX, DeferredLayerWork


async def test_work_runs_in_the_order_queued_and_a_failure_is_the_frames_error_the_rest_still_runs() -> None:
    done: list[str] = []
    failed: list[tuple[str, str | None, str | None]] = []
    gate = asyncio.Event()

    async def on_error(exc: BaseException, frame_type: str | None, frame_id: str | None) -> None:
        failed.append((str(exc), frame_type, frame_id))

    def work(name: str, *, wait: bool = False, fail: bool = False):
        async def run() -> None:
            if wait:
                await gate.wait()
            if fail:
                raise RuntimeError(name)
            done.append(name)
        return run

    deferred = DeferredLayerWork(on_error)
    assert deferred._queue is None and len(deferred) == 0  # noqa: SLF001 - an idle socket holds no queue
    deferred.submit(work("a", wait=True), frame_type="chat", frame_id="c-1")
    deferred.submit(work("b", fail=True), frame_type="set_muted", frame_id="c-2")
    deferred.submit(work("c"), frame_type="chat", frame_id=None)
    await asyncio.sleep(0)
    assert done == [] and len(deferred) == 2  # "a" waits; "b" and "c" behind it
    gate.set()
    await deferred.drain(timeout=1.0)
    assert done == ["a", "c"]
    assert failed == [("b", "set_muted", "c-2")]
    assert deferred._queue is None  # noqa: SLF001 - given up once all of it was done
    deferred.submit(work("d"), frame_type=None, frame_id=None)  # the same task runs it
    await deferred.drain(timeout=1.0)
    assert done == ["a", "c", "d"]
    await deferred.aclose()


async def test_full_counts_what_waits() -> None:
    async def on_error(exc: BaseException, frame_type: str | None, frame_id: str | None) -> None:
        raise AssertionError("no work fails here")

    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    deferred = DeferredLayerWork(on_error)
    for _ in range(DEFERRED_MAX):
        assert not deferred.full()
        deferred.submit(blocked, frame_type=None, frame_id=None)
    assert deferred.full()
    await deferred.aclose()  # what waits is dropped, the running work cancelled
    assert len(deferred) == 0 and not deferred.full()
