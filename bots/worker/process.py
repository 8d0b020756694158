"""A bot worker: takes free bots, runs each in its lobby, and keeps its claim on them alive.

One asyncio loop runs every bot of the process (``BotRunner``) beside two
tasks: the heartbeat (every ``VOICEBOT_BOT_HEARTBEAT_INTERVAL``: the worker's
row, the leases of its bots, the sweep of dead workers) and the claims (every
``VOICEBOT_BOT_CLAIM_INTERVAL`` while there is room: free bots, up to the
worker's capacity). A bot whose lease the worker could not renew in time
(its database is unreachable) is stopped here before another worker may
take it, so that two workers never run the same bot; the server's
``session_replaced`` ends any socket that overlapped all the same.

Stopping (SIGTERM, SIGINT): every bot closes its socket without ``leave``
(its participant waits in ``reconnecting``) and is handed back at once, so
that another worker resumes it within the reconnect grace period.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from prometheus_client import start_http_server

from bots import services
from bots.assistant.llm.router import llm_health_report
from bots.models import BotKind
from bots.kinds.catalog import KINDS, behaviour_class, kind_unavailable_reason
from bots.runtime.ice import ice_addresses_apply
from bots.runtime.runner import BotRunner
from bots.runtime.server import FINISHED
from errors.boundary import report_error
from resilience.database import db_call
from resilience.registry import breaker_snapshots

logger = logging.getLogger("voicebot.bots")


@dataclass
class Running:
    runner: BotRunner
    task: asyncio.Task[str]
    # Set when the worker itself stops the bot (shutdown, lease lost): hand back, or drop.
    handing_back: bool = field(default=False)


class BotWorkerProcess:
    def __init__(self, *, capacity: int, server_url: str, worker_id: str | None = None,
                 parent_pid: int | None = None) -> None:
        self.worker_id = worker_id or uuid.uuid4().hex
        self.parent_pid = parent_pid
        self.capacity = capacity
        self.server_url = server_url
        self.running: dict[int, Running] = {}
        self.stopping = asyncio.Event()
        self.kinds = {kind: kind_unavailable_reason(kind) for kind in KINDS}
        self.runnable = [kind for kind, reason in self.kinds.items() if reason is None]
        self.renewed_at = time.monotonic()
        # Database writes of bots that ended (forget, hand back), awaited before the worker stops.
        self.writes: set[asyncio.Task[Any]] = set()
        self.cpu_start = time.process_time()

    # --- The loop -------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        await db_call(services.worker_heartbeat)(worker_id=self.worker_id, capacity=self.capacity,
                                                 kinds=self.kinds, stats=self.stats())
        logger.info("bot worker %s (pid %d) runs up to %d bots of %s for %s", self.worker_id, os.getpid(),
                    self.capacity, ", ".join(self.runnable) or "no kind", self.server_url)
        tasks = [loop.create_task(self.heartbeats()), loop.create_task(self.claims()),
                 *(loop.create_task(self.warm_up(kind)) for kind in self.runnable)]
        try:
            await self.stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.stop_all()
            await asyncio.gather(*self.writes, return_exceptions=True)
            released = await db_call(services.worker_stop)(worker_id=self.worker_id)
            logger.info("bot worker %s stopped; %d bots handed back", self.worker_id, released)

    async def warm_up(self, kind: str) -> None:
        behaviour = behaviour_class(kind)
        if behaviour is None:
            return
        started = time.monotonic()
        try:
            await behaviour.warm_up()
        except Exception as exc:  # noqa: BLE001 - a kind that cannot warm up loads on first use
            report_error(exc, transport="internal", where=f"bots.worker.warm_up.{kind}")
            return
        logger.info("bot worker %s: %s warmed up in %.1f s", self.worker_id, kind, time.monotonic() - started)

    async def every(self, interval: float, step: Any, where: str) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one failed round must not end the worker
                report_error(exc, transport="internal", where=where)
            await asyncio.sleep(interval)

    async def heartbeats(self) -> None:
        await self.every(settings.VOICEBOT_BOT_HEARTBEAT_INTERVAL, self.heartbeat, "bots.worker.heartbeat")

    async def claims(self) -> None:
        await self.every(settings.VOICEBOT_BOT_CLAIM_INTERVAL, self.claim, "bots.worker.claim")

    # --- One round ------------------------------------------------------------

    async def heartbeat(self) -> None:
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            logger.warning("bot worker %s: its server process is gone; stopping", self.worker_id)
            self.stopping.set()
            return
        try:
            await db_call(services.worker_heartbeat)(worker_id=self.worker_id, capacity=self.capacity,
                                                     kinds=self.kinds, stats=self.stats())
            # The bots asked about: one claimed meanwhile is renewed by the next round.
            asked = set(self.running)
            held = await db_call(services.bot_leases_renew)(worker_id=self.worker_id, bot_ids=list(asked))
        except Exception:
            # Leases not renewed: stop the bots before they may run elsewhere.
            if time.monotonic() - self.renewed_at > settings.VOICEBOT_BOT_LEASE - settings.VOICEBOT_BOT_HEARTBEAT_INTERVAL:
                logger.warning("bot worker %s cannot renew its leases; stopping its %d bots",
                               self.worker_id, len(self.running))
                for bot_id in list(self.running):
                    await self.stop_one(bot_id, hand_back=False)
            raise
        self.renewed_at = time.monotonic()
        for bot_id in asked - held:
            logger.info("bot %d is no longer this worker's (removed, or taken over); stopping it", bot_id)
            await self.stop_one(bot_id, hand_back=False)
        await db_call(services.workers_sweep)()

    async def claim(self) -> None:
        room = self.capacity - len(self.running)
        if room <= 0 or self.stopping.is_set():
            return
        for assignment in await db_call(services.bot_claim)(worker_id=self.worker_id, limit=room,
                                                           kinds=self.runnable):
            self.start(assignment)

    def start(self, assignment: services.BotAssignment) -> None:
        try:
            runner = BotRunner(assignment, server_url=self.server_url)
        except Exception as exc:  # noqa: BLE001 - a bot that cannot start is handed back
            report_error(exc, transport="internal", where="bots.worker.start")
            self.write(services.bot_release, bot_id=assignment.bot_id, worker_id=self.worker_id)
            return
        task = asyncio.get_running_loop().create_task(runner.run(), name=f"bot-{assignment.bot_id}")
        self.running[assignment.bot_id] = Running(runner, task)
        task.add_done_callback(lambda done, bot_id=assignment.bot_id: self.finished(bot_id, done))
        logger.info("bot worker %s took bot %d (%s) for lobby %s", self.worker_id, assignment.bot_id,
                    assignment.kind, assignment.lobby_id)

    def finished(self, bot_id: int, task: asyncio.Task[str]) -> None:
        entry = self.running.pop(bot_id, None)
        if entry is None or entry.handing_back or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            report_error(exc, transport="internal", where="bots.runner")
            outcome = None
        else:
            outcome = task.result()
        if outcome == FINISHED:
            self.write(services.bot_finish, bot_id=bot_id)
        elif outcome is None:
            # Crashed: let any worker (this one included) start it afresh.
            self.write(services.bot_release, bot_id=bot_id, worker_id=self.worker_id)

    def write(self, service: Any, **kwargs: Any) -> None:
        async def guarded() -> None:
            try:
                await db_call(service)(**kwargs)
            except Exception as exc:  # noqa: BLE001 - the lease runs out and another round fixes it
                report_error(exc, transport="internal", where=f"bots.worker.{service.__name__}")

        task = asyncio.get_running_loop().create_task(guarded())
        self.writes.add(task)
        task.add_done_callback(self.writes.discard)

    async def stop_one(self, bot_id: int, *, hand_back: bool) -> None:
        entry = self.running.pop(bot_id, None)
        if entry is None:
            return
        entry.handing_back = True
        entry.task.cancel()
        await asyncio.gather(entry.task, return_exceptions=True)
        if hand_back:
            await db_call(services.bot_release)(worker_id=self.worker_id, bot_id=bot_id)

    async def stop_all(self) -> None:
        entries = list(self.running.values())
        for entry in entries:
            entry.handing_back = True
            entry.task.cancel()
        await asyncio.gather(*(entry.task for entry in entries), return_exceptions=True)
        self.running.clear()

    def stats(self) -> dict[str, Any]:
        runners = [entry.runner for entry in self.running.values()]
        return {
            "bots": len(runners),
            "peers": sum(runner.peer_count for runner in runners),
            "frames_sent": sum(runner.audio.frames_sent for runner in runners),
            "frames_late": sum(runner.audio.frames_late for runner in runners),
            "cpu_seconds": round(time.process_time() - self.cpu_start, 3),
            "bots_carried": sorted(self.running),
            "behaviours": {entry.runner.session_id: behaviour_stats(entry.runner) for entry in self.running.values()},
            # This process's breakers (its language models', speech providers', the server's...).
            "breakers": {snapshot.name: snapshot.state for snapshot in breaker_snapshots()},
            "llm": llm_health_report() if BotKind.ASSISTANT in self.runnable else [],
        }


def behaviour_stats(runner: BotRunner) -> dict[str, Any]:
    try:
        return runner.behaviour.stats()
    except Exception as exc:  # noqa: BLE001 - a behaviour's failure must not stop the heartbeat
        runner.report(exc, "stats")
        return {}


def metrics_serve(port: int, address: str) -> Any:
    """Serve this worker's Prometheus metrics on ``address:port`` (prometheus_client's own server, a thread).

    The server's /metrics shows what the server process measured; the
    assistants' turn histograms and the worker's breakers are in the worker.
    """
    server, _thread = start_http_server(port, addr=address)
    logger.info("bot worker metrics on http://%s:%d/metrics", address, server.server_port)
    return server


def worker_run(*, capacity: int, server_url: str, parent_pid: int | None = None) -> None:
    """Run a worker in this process until SIGTERM or SIGINT (or ``parent_pid`` is gone)."""
    ice_addresses_apply(settings.VOICEBOT_BOT_ICE_ADDRESSES)
    if settings.VOICEBOT_BOT_METRICS_PORT:
        metrics_serve(settings.VOICEBOT_BOT_METRICS_PORT, settings.VOICEBOT_BOT_METRICS_ADDRESS)
    asyncio.run(BotWorkerProcess(capacity=capacity, server_url=server_url, parent_pid=parent_pid).run())
