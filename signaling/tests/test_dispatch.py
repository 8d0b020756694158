"""The consumer's message loop (signaling.dispatch.dispatch_from), with plain asyncio sources."""
from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

import pytest

from signaling import dispatch as dispatch_module
from signaling.dispatch import dispatch_from


class Stop(Exception):
    pass


def queue_source(queue: asyncio.Queue[Any]) -> Any:
    async def receive() -> Any:
        item = await queue.get()
        if isinstance(item, BaseException):
            raise item
        return item
    return receive


async def test_messages_of_both_sources_are_dispatched_in_arrival_order_one_at_a_time() -> None:
    socket: asyncio.Queue[Any] = asyncio.Queue()
    channel: asyncio.Queue[Any] = asyncio.Queue()
    seen: list[str] = []
    busy = False

    async def handle(message: dict[str, Any]) -> None:
        nonlocal busy
        assert not busy, "dispatch overlapped"
        busy = True
        await asyncio.sleep(0)
        seen.append(message["n"])
        busy = False
        if message["n"] == "stop":
            raise Stop()

    loop = asyncio.ensure_future(dispatch_from([queue_source(socket), queue_source(channel)], handle))
    for n, target in [("s1", socket), ("c1", channel), ("s2", socket), ("c2", channel)]:
        target.put_nowait({"n": n})
        await asyncio.sleep(0.01)
    socket.put_nowait({"n": "stop"})
    with pytest.raises(Stop):
        await asyncio.wait_for(loop, 5)
    assert seen == ["s1", "c1", "s2", "c2", "stop"]


async def test_a_failing_source_ends_the_loop_with_its_error() -> None:
    socket: asyncio.Queue[Any] = asyncio.Queue()
    channel: asyncio.Queue[Any] = asyncio.Queue()

    async def handle(message: dict[str, Any]) -> None:
        pass

    loop = asyncio.ensure_future(dispatch_from([queue_source(socket), queue_source(channel)], handle))
    socket.put_nowait({"n": 1})
    channel.put_nowait(ConnectionResetError("layer gone"))
    with pytest.raises(ConnectionResetError, match="layer gone"):
        await asyncio.wait_for(loop, 5)


async def test_a_slow_consumer_stops_taking_from_its_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch_module, "QUEUE_SIZE", 2)
    taken = 0
    release = asyncio.Event()

    async def endless() -> dict[str, Any]:
        nonlocal taken
        taken += 1
        return {"n": taken}

    async def handle(message: dict[str, Any]) -> None:
        await release.wait()

    loop = asyncio.ensure_future(dispatch_from([endless], handle))
    await asyncio.sleep(0.05)
    # One message in dispatch, two in the queue, one in the pump's hands waiting for room.
    assert taken == 1 + 2 + 1
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop


async def test_the_pumps_are_cancelled_when_the_loop_ends() -> None:
    started: list[asyncio.Task[Any]] = []
    cancelled = 0

    async def forever() -> dict[str, Any]:
        nonlocal cancelled
        started.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return {}

    socket: asyncio.Queue[Any] = asyncio.Queue()

    async def handle(message: dict[str, Any]) -> None:
        raise Stop()

    loop = asyncio.ensure_future(dispatch_from([queue_source(socket), forever], handle))
    await asyncio.sleep(0.01)
    socket.put_nowait({"n": "last"})
    with pytest.raises(Stop):
        await asyncio.wait_for(loop, 5)
    assert cancelled == 1 and all(task.done() for task in started)


async def test_a_message_that_finds_the_loop_idle_is_handled_in_the_task_that_read_it() -> None:
    socket: asyncio.Queue[Any] = asyncio.Queue()
    handled_by: list[asyncio.Task[Any] | None] = []

    async def handle(message: dict[str, Any]) -> None:
        handled_by.append(asyncio.current_task())
        if message["n"] == "stop":
            raise Stop()

    loop = asyncio.ensure_future(dispatch_from([queue_source(socket)], handle))
    for n in ["s1", "s2", "stop"]:
        socket.put_nowait({"n": n})
        await asyncio.sleep(0.01)
    with pytest.raises(Stop):
        await asyncio.wait_for(loop, 5)
    # One pump read and handled all three: no wake-up of the loop, no new task.
    assert len(set(handled_by)) == 1 and handled_by[0] is not loop


async def test_frames_that_come_while_a_handler_waits_are_read_and_stamped_as_they_come() -> None:
    socket: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()
    seen: list[tuple[str, float, float]] = []

    async def handle(message: dict[str, Any]) -> None:
        if message["n"] == "slow":
            await release.wait()
        seen.append((message["n"], message[dispatch_module.ARRIVED], time.monotonic()))
        if message["n"] == "stop":
            raise Stop()

    loop = asyncio.ensure_future(dispatch_from([queue_source(socket)], handle))
    socket.put_nowait({"type": "websocket.receive", "text": "x", "n": "slow"})
    await asyncio.sleep(0.01)
    sent_at = time.monotonic()
    for n in ["f1", "f2", "stop"]:
        socket.put_nowait({"type": "websocket.receive", "text": "x", "n": n})
    await asyncio.sleep(0.2)
    assert socket.empty(), "the frames were read while the handler waited"
    release.set()
    with pytest.raises(Stop):
        await asyncio.wait_for(loop, 5)
    assert [n for n, _, _ in seen] == ["slow", "f1", "f2", "stop"]
    for n, arrived, handled in seen[1:]:
        # Stamped when read (within the wait), not when handled (after it).
        assert arrived - sent_at < 0.1 and handled - arrived >= 0.15, n


async def test_a_handler_that_fails_in_a_pump_ends_the_loop_before_what_came_after_it() -> None:
    socket: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()
    seen: list[str] = []

    async def handle(message: dict[str, Any]) -> None:
        seen.append(message["n"])
        if message["n"] == "bad":
            await release.wait()
            raise Stop()

    loop = asyncio.ensure_future(dispatch_from([queue_source(socket)], handle))
    socket.put_nowait({"n": "bad"})
    await asyncio.sleep(0.01)
    for n in ["after1", "after2"]:
        socket.put_nowait({"n": n})
    await asyncio.sleep(0.05)
    release.set()
    with pytest.raises(Stop):
        await asyncio.wait_for(loop, 5)
    assert seen == ["bad"]


async def test_the_pump_that_takes_over_does_not_inherit_what_a_waiting_handler_set_in_its_context() -> None:
    # asgiref marks its database thread busy in a context variable for the
    # length of a call: a pump started during that call must not keep the mark.
    busy: contextvars.ContextVar[bool] = contextvars.ContextVar("busy", default=False)
    socket: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()
    seen: list[tuple[str, bool]] = []

    async def handle(message: dict[str, Any]) -> None:
        seen.append((message["n"], busy.get()))
        if message["n"] == "slow":
            token = busy.set(True)
            try:
                await release.wait()
            finally:
                busy.reset(token)
        if message["n"] == "stop":
            raise Stop()

    loop = asyncio.ensure_future(dispatch_from([queue_source(socket)], handle))
    socket.put_nowait({"n": "slow"})
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.sleep(0.01)
    # Read and handled by the pump that took over while "slow" waited.
    for n in ["later", "stop"]:
        socket.put_nowait({"n": n})
        await asyncio.sleep(0.01)
    with pytest.raises(Stop):
        await asyncio.wait_for(loop, 5)
    assert seen == [("slow", False), ("later", False), ("stop", False)]
