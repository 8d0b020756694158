"""The queue of sessions waiting for a seat in a full lobby.

A ``join`` refused with ``lobby_full`` puts its session at the end of the
lobby's queue (or keeps the place it has). Seats go in queue order: a join is
admitted only when more seats are free than sessions wait ahead of it, so a
newcomer cannot take a seat from someone who waited. The sweep (run with
presence, by every server process) tells the first waiters that a seat is
theirs (``seat_available``), the others their new place (``waiting_for_seat``),
and drops waiters that are gone; each message is claimed with a conditional
update, so several processes never send it twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from lobbies import events
from lobbies.events import Event
from lobbies.models import Lobby, SeatWaiter

# Seconds a waiter told that a seat is free holds it for its join: more than
# the 30 s after which a client that does not know the queue asks again.
SEAT_HOLD_SECONDS = 35.0


def seat_queue(*, lobby_id: str) -> list[str]:
    """The sessions waiting for a seat in the lobby, first in line first."""
    return list(SeatWaiter.objects.filter(lobby_id=lobby_id).order_by("id").values_list("session_id", flat=True))


def seat_waiter_enqueue(*, lobby_id: str, session_id: str, channel_name: str, instance_id: str, position: int) -> None:
    """Put the session in the lobby's queue, or keep its place there with this socket."""
    fields = {"channel_name": channel_name, "instance_id": instance_id, "disconnected_at": None,
              "notified_at": None, "position_sent": position}
    if SeatWaiter.objects.filter(lobby_id=lobby_id, session_id=session_id).update(**fields):
        return
    try:
        with transaction.atomic():
            SeatWaiter.objects.create(lobby_id=lobby_id, session_id=session_id, **fields)
    except IntegrityError:
        # Another socket of the session queued it between the update and the insert.
        SeatWaiter.objects.filter(lobby_id=lobby_id, session_id=session_id).update(**fields)


def seat_waiter_leave(*, session_id: str) -> None:
    """The session has a seat now (or gave up): it waits nowhere."""
    SeatWaiter.objects.filter(session_id=session_id).delete()


def seat_waiter_disconnect(*, lobby_id: str, session_id: str, channel_name: str, gone: bool) -> None:
    """The waiting socket closed: on purpose (``gone``) its place is dropped, else kept for the grace period."""
    waiter = SeatWaiter.objects.filter(lobby_id=lobby_id, session_id=session_id, channel_name=channel_name)
    if gone or settings.VOICEBOT_RECONNECT_GRACE <= 0:
        waiter.delete()
    else:
        waiter.update(channel_name="", instance_id="", disconnected_at=timezone.now())


def seat_waiters_dismiss(*, lobby_id: str) -> list[Event]:
    """The lobby closed: its waiters' sockets are told so (4004) and the queue is emptied."""
    channels = list(
        SeatWaiter.objects.filter(lobby_id=lobby_id).exclude(channel_name="").values_list("channel_name", flat=True)
    )
    SeatWaiter.objects.filter(lobby_id=lobby_id).delete()
    return [events.lobby_closed_to(lobby_id, channel) for channel in channels]


def seat_sweep(*, now: datetime | None = None) -> list[Event]:
    """Tell waiters that a seat is theirs or where they are; drop waiters that are gone."""
    if not SeatWaiter.objects.exists():
        return []
    now = now or timezone.now()
    SeatWaiter.objects.filter(
        disconnected_at__lt=now - timedelta(seconds=max(0.0, settings.VOICEBOT_RECONNECT_GRACE))
    ).delete()
    SeatWaiter.objects.filter(notified_at__lt=now - timedelta(seconds=SEAT_HOLD_SECONDS)).delete()
    emitted: list[Event] = []
    waiting_in = SeatWaiter.objects.values_list("lobby_id", flat=True).distinct()
    lobbies = Lobby.objects.filter(pk__in=list(waiting_in), closed_at__isnull=True).annotate(
        # Bots take no seat.
        taken=Count("participants", filter=Q(participants__is_bot=False))
    )
    for lobby in lobbies:
        free = lobby.max_participants - lobby.taken  # type: ignore[attr-defined]
        for position, waiter in enumerate(SeatWaiter.objects.filter(lobby_id=lobby.id).order_by("id"), start=1):
            if not waiter.channel_name:
                continue  # its socket is reconnecting; it keeps its place
            claim = SeatWaiter.objects.filter(pk=waiter.pk, channel_name=waiter.channel_name)
            if position <= free:
                if waiter.notified_at is None and claim.filter(notified_at__isnull=True).update(notified_at=now):
                    emitted.append(events.seat_available(lobby.id, waiter.channel_name))
            elif waiter.position_sent != position and claim.filter(position_sent=waiter.position_sent).update(
                position_sent=position
            ):
                emitted.append(events.seat_position(lobby.id, waiter.channel_name, position=position))
    return emitted
