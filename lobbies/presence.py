"""Presence that survives a server process: heartbeats and the grace-period sweep.

Every server process that serves sockets runs one presence task. Its
heartbeat task writes the process's ``ServerInstance`` row on a database
thread of its own (``db_call_apart``), so that work queued on the database
thread cannot make a busy process look dead; a process that finds its row
gone was taken for dead all the same, and sends ``presence_lost``. The
presence task sweeps:

- participants of a process whose heartbeat stopped (it crashed or was
  killed) start their grace period as if their socket had dropped, counted
  from the process's last heartbeat, and leave the lobby's group;
- participants whose grace period ran out leave with ``reason: "timeout"``.

Any process may sweep any lobby; each removal is a conditional delete, so two
sweepers never announce the same departure twice.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import weakref
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from errors.boundary import report_error
from lobbies import events
from lobbies.events import Event, emit
from lobbies.expiry import lobby_expiry_sweep
from lobbies.models import Participant, SeatWaiter, ServerInstance
from lobbies.seats import seat_sweep
from lobbies.presenters import participant_public
from resilience.database import db_call, db_call_apart

logger = logging.getLogger("voicebot.presence")

# This process's identity, written on each participant it holds a socket for.
INSTANCE_ID = uuid.uuid4().hex
# A process is dead once its heartbeat is older than this many intervals.
DEAD_AFTER_INTERVALS = 2

# Sent (no arguments, on the event loop) when this process finds that another took it for dead
# and orphaned the participants of its sockets: they must reconnect to take their places back.
presence_lost = Signal()


def instance_heartbeat(*, instance_id: str = INSTANCE_ID, now: datetime | None = None) -> bool:
    """Write the heartbeat; False when the instance's row was not there (it is created)."""
    now = now or timezone.now()
    updated = ServerInstance.objects.filter(pk=instance_id).update(last_heartbeat=now)
    if not updated:
        ServerInstance.objects.create(
            id=instance_id, host=socket.gethostname(), pid=os.getpid(), started_at=now, last_heartbeat=now
        )
    return bool(updated)


def presence_sweep(*, instance_id: str = INSTANCE_ID, now: datetime | None = None) -> list[Event]:
    """Hand the participants of dead processes to the grace period; time out the expired."""
    now = now or timezone.now()
    emitted: list[Event] = []
    dead_before = now - timedelta(seconds=settings.VOICEBOT_HEARTBEAT_INTERVAL * DEAD_AFTER_INTERVALS)
    for instance in ServerInstance.objects.filter(last_heartbeat__lt=dead_before).exclude(pk=instance_id):
        with transaction.atomic():
            orphans = list(
                Participant.objects.select_for_update().filter(
                    instance_id=instance.id, status=Participant.Status.CONNECTED
                )
            )
            for participant in orphans:
                channel = participant.channel_name
                participant.status = Participant.Status.RECONNECTING
                participant.channel_name = ""
                participant.instance_id = ""
                participant.disconnected_at = instance.last_heartbeat
                participant.save(update_fields=["status", "channel_name", "instance_id", "disconnected_at"])
                emitted.append(
                    events.participant_updated(
                        participant.lobby_id,
                        participant_public(participant),
                        epoch=participant.epoch,
                        discard=(channel,) if channel else (),
                    )
                )
            # Its sockets waiting for a seat keep their places for the grace period too.
            SeatWaiter.objects.filter(instance_id=instance.id).update(
                channel_name="", instance_id="", disconnected_at=instance.last_heartbeat
            )
            dead_id, dead_name = instance.id, str(instance)
            instance.delete()
        logger.warning("server instance %s (%s) stopped its heartbeat; %d participants orphaned",
                       dead_id, dead_name, len(orphans))
    expired_before = now - timedelta(seconds=settings.VOICEBOT_RECONNECT_GRACE)
    expired = Participant.objects.filter(
        status=Participant.Status.RECONNECTING, disconnected_at__lt=expired_before
    ).values_list("pk", "lobby_id", "session_id", "disconnected_at", "epoch")
    for pk, lobby_id, session_id, disconnected_at, epoch in list(expired):
        deleted, _ = Participant.objects.filter(
            pk=pk, status=Participant.Status.RECONNECTING, disconnected_at=disconnected_at
        ).delete()
        if deleted:
            emitted.append(events.participant_left(lobby_id, session_id, reason="timeout", epoch=epoch))
    return emitted


# Seconds between two sweeps of empty lobbies and old chat (lobbies.expiry) in one process.
EXPIRY_SWEEP_INTERVAL = 5.0


async def presence_tick(*, expiry: bool = True) -> None:
    """One sweep (and expiry sweep), with the resulting events sent; the heartbeat is run_heartbeat's."""
    await emit(await db_call(presence_sweep)())
    # After departures: seats they freed go to the lobbies' waiters.
    await emit(await db_call(seat_sweep)())
    if expiry:
        await emit(await db_call(lobby_expiry_sweep)())


async def heartbeat_once(*, beaten_before: bool) -> None:
    """One heartbeat. A row gone after an earlier beat means another process took this one for dead:
    ``presence_lost`` is sent, so that the sockets whose places it orphaned reconnect and resume them."""
    if not await db_call_apart(instance_heartbeat)() and beaten_before:
        logger.warning("another server process took this one (%s) for dead; its lobby sockets are closed"
                       " to reconnect and resume their places", INSTANCE_ID)
        presence_lost.send(sender=None)


async def run_heartbeat() -> None:
    """This process's heartbeat every interval until cancelled; a failed one is reported.

    It is written on a database thread of its own (``db_call_apart``). On the
    database thread it waited behind every call queued there: in a reconnect
    storm of 1,000 sockets (3,000 calls) for more than two intervals, and the
    other processes then took this busy one for dead and orphaned the
    participants of its open sockets.
    """
    beaten = False
    while True:
        try:
            await heartbeat_once(beaten_before=beaten)
            beaten = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one failed beat must not end the heartbeat
            report_error(exc, transport="internal", where="presence.heartbeat")
        await asyncio.sleep(settings.VOICEBOT_HEARTBEAT_INTERVAL)


async def run_presence() -> None:
    """The heartbeat (its own task) and the sweeps until cancelled; a failed round is reported and retried."""
    loop = asyncio.get_running_loop()
    heartbeat = loop.create_task(run_heartbeat(), name="voicebot-heartbeat")
    next_expiry = 0.0
    try:
        while True:
            expiry = loop.time() >= next_expiry
            try:
                await presence_tick(expiry=expiry)
                if expiry:
                    next_expiry = loop.time() + EXPIRY_SWEEP_INTERVAL
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad round must not end presence
                report_error(exc, transport="internal", where="presence.tick")
            await asyncio.sleep(settings.VOICEBOT_PRESENCE_SWEEP_INTERVAL)
    finally:
        heartbeat.cancel()


_tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def presence_ensure_running() -> None:
    """Start this process's presence task on the running loop, once."""
    if not settings.VOICEBOT_PRESENCE_ENABLED:
        return
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(run_presence(), name="voicebot-presence")


class PresenceStartMiddleware:
    """ASGI middleware: the first request a process serves starts its presence task.

    Sockets start it when they connect; this covers a process that so far
    served only HTTP (daphne sends no lifespan startup), so that its sweeps
    (empty lobbies, waiting queues) run all the same.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        presence_ensure_running()
        return await self.app(scope, receive, send)


async def presence_stop() -> None:
    """Stop the presence task of the running loop (tests and shutdown)."""
    task = _tasks.pop(asyncio.get_running_loop(), None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
