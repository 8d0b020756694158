"""Process metrics exposed at /metrics (Prometheus text format).

With several server processes (``serve --workers N``) prometheus_client runs
in multiprocess mode: ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at an
emptied directory before the workers start, every process writes its values
there, and whichever process answers /metrics sums them (counters; gauges of
live processes as their ``multiprocess_mode`` says).
"""
from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from resilience.breakers import STATE_VALUES

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

WEBSOCKETS_OPEN = Gauge(
    "voicebot_websockets_open", "WebSocket connections accepted and not yet closed.", multiprocess_mode="livesum"
)
FRAMES_RELAYED = Counter("voicebot_frames_relayed_total", "Offers, answers and ICE candidates relayed to a peer.")

# Seconds a LoopCounter's count may wait before it reaches its Counter.
PUBLISH_AFTER = 1.0


class LoopCounter:
    """A Counter bumped on an event loop's hot path: counted in a plain int, added to the Counter within a second.

    ``Counter.inc`` makes four Python calls and takes a lock: 6 % of what a
    relayed frame costs the project's code (``bench.inprocess --callgrind``).
    ``inc`` here adds one to an int and, for the first count that waits,
    starts a timer on the running loop that adds what waits to the Counter.
    So /metrics is at most ``PUBLISH_AFTER`` seconds behind, and a process
    that dies loses at most that last second of counts. Only for code on an
    event loop (the int is not locked); a count on another loop than the
    timer's (a test's new loop) publishes what waited and starts a timer there.
    """

    __slots__ = ("counter", "pending", "timer", "timer_loop")

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.pending = 0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_loop: asyncio.AbstractEventLoop | None = None

    def inc(self) -> None:
        self.pending += 1
        if self.timer is None or self.timer_loop is not asyncio.get_running_loop():
            self._start_timer()

    def _start_timer(self) -> None:
        if self.timer is not None:  # another loop's timer (a closed loop's never runs): publish now
            self.timer.cancel()
            self.publish()
        loop = asyncio.get_running_loop()
        self.timer_loop = loop
        self.timer = loop.call_later(PUBLISH_AFTER, self.publish)

    def publish(self) -> None:
        self.timer = None
        count, self.pending = self.pending, 0
        if count:
            self.counter.inc(count)


RELAYS_COUNTED = LoopCounter(FRAMES_RELAYED)


def metrics_text() -> bytes:
    """Every metric of this process, or of all the server's processes in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


class _Reported:
    """A collector of values read elsewhere (the bot workers' reports), for one exposition."""

    def __init__(self, family: GaugeMetricFamily) -> None:
        self.family = family

    def collect(self) -> list[GaugeMetricFamily]:
        return [self.family]


def worker_breakers_text(breakers: dict[str, str]) -> bytes:
    """The breakers the bot workers report (worst state among live workers), in the text format.

    Bot workers are processes of their own that this server does not scrape:
    their heartbeats carry their breakers' states to the database.
    """
    family = GaugeMetricFamily("voicebot_bot_worker_circuit_breaker_state",
                               "Circuit breakers of the bot workers (their worst state): 0 closed, 1 half-open, 2 open.",
                               labels=["breaker"])
    for name, state in breakers.items():
        family.add_metric([name], STATE_VALUES.get(state, 2))  # type: ignore[arg-type]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Reported(family))  # type: ignore[arg-type]
    return generate_latest(registry)


def multiprocess_dir_prepare(path: Path) -> None:
    """Empty ``path`` and make it the metrics directory of the processes started from here."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR] = str(path)


def process_exit_mark() -> None:
    """This process stops: its live gauges leave the sums (multiprocess mode only)."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(os.getpid())
