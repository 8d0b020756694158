"""Process metrics exposed at /metrics (Prometheus text format).

With several server processes (``serve --workers N``) prometheus_client runs
in multiprocess mode: ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at an
emptied directory before the workers start, every process writes its values
there, and whichever process answers /metrics sums them (counters; gauges of
live processes as their ``multiprocess_mode`` says).
"""
from __future__ import annotations

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
