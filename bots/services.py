"""Every change to bots and their workers.

Server side: ``bot_add`` and ``bot_remove`` (the HTTP API and the admin) and
``bot_state_set`` (a bot's ``set_bot_state`` frame); they return the lobby
events to send once they committed. Worker side: registering and heartbeats,
claiming bots, renewing and handing back their leases, and forgetting a bot
that left for good. A worker never emits lobby events (on the embedded
default it shares no channel layer with the server): what the lobby must see
travels over the bot's own WebSocket.

Claims: a bot is free when no worker holds it or its lease ran out. A worker
takes one with a conditional UPDATE (only while it is still free), which two
workers can never both win: SQLite runs one writer at a time, and Postgres
re-checks the condition on the row it waited for. Where the database can
skip locked rows (Postgres), workers also pick their candidates with
``select_for_update(skip_locked=True)`` so that they do not wait on each other.
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from bots import selectors
from bots.exceptions import BotLimitReachedError, BotUnavailableError
from bots.kinds.catalog import KINDS
from bots.models import Bot, BotProfile, BotWorker
from errors.exceptions import InvalidMessageError
from lobbies import services as lobby_services
from lobbies.events import Event
from lobbies.models import NAME_MAX_LENGTH, GuestSession, Lobby, Participant
from lobbies.validation import participant_name_key
from signaling.exceptions import PeerNotFoundError

# What a profile id can be (a slug); anything else names no profile.
PROFILE_ID = re.compile(r"[-a-zA-Z0-9_]{1,64}")
# Workers silent for this many leases are forgotten (their rows deleted).
FORGET_WORKER_AFTER_LEASES = 10


# --- Server side ------------------------------------------------------------


def _kind_clean(kind: Any) -> str:
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidMessageError(f"'kind' must be one of {', '.join(KINDS)}.")
    return kind


def _profile_clean(profile: Any, kind: str) -> BotProfile | None:
    if profile is None:
        return None
    if not isinstance(profile, str) or not PROFILE_ID.fullmatch(profile):
        raise InvalidMessageError("'profile' must be the id of a bot profile (GET /api/bots lists them).")
    found = BotProfile.objects.filter(pk=profile).first()
    if found is None:
        raise InvalidMessageError("There is no bot profile with that id (GET /api/bots lists them).")
    if found.kind != kind:
        raise InvalidMessageError(f"That profile is for a bot of kind {found.kind}, not {kind}.")
    return found


def _free_name(lobby: Lobby, base: str) -> str:
    """``base``, or ``base 2``, ``base 3``...: a name nobody in the lobby holds or is about to."""
    taken = set(Participant.objects.filter(lobby=lobby).values_list("name_key", flat=True))
    taken |= {participant_name_key(name) for name in
              GuestSession.objects.filter(bot__lobby=lobby).values_list("name", flat=True)}
    for number in range(1, 100):
        suffix = "" if number == 1 else f" {number}"
        name = base[: NAME_MAX_LENGTH - len(suffix)] + suffix
        if participant_name_key(name) not in taken:
            return name
    return base[: NAME_MAX_LENGTH - 7] + f" {os.urandom(3).hex()}"


def bot_add(*, lobby_id: str, session_id: str, kind: Any, profile: Any = None) -> Bot:
    """A bot for the lobby, asked for by one of its participants; a worker takes it and joins.

    Errors in the protocol's order: ``unauthenticated``, ``lobby_not_found``,
    ``forbidden``, ``invalid_message``, ``bot_limit_reached``, ``bot_unavailable``.
    """
    with transaction.atomic():
        selectors.bot_caller_check(lobby_id=lobby_id, session_id=session_id)
        # Locked, so that two requests at once cannot both take the last bot place.
        lobby = Lobby.objects.select_for_update().get(pk=lobby_id)
        clean_kind = _kind_clean(kind)
        clean_profile = _profile_clean(profile, clean_kind)
        if Bot.objects.filter(lobby=lobby).count() >= settings.VOICEBOT_BOTS_PER_LOBBY:
            raise BotLimitReachedError(
                f"This lobby already has {settings.VOICEBOT_BOTS_PER_LOBBY} bots, its most. Remove one first."
            )
        reason = selectors.bot_kind_unavailable_reason(clean_kind)
        if reason is not None:
            raise BotUnavailableError(reason, context={"kind": clean_kind})
        name = _free_name(lobby, clean_profile.name if clean_profile else KINDS[clean_kind].default_name)
        session = GuestSession.objects.create(name=name, is_bot=True)
        return Bot.objects.create(session=session, lobby=lobby, kind=clean_kind, profile=clean_profile,
                                  requested_by=session_id)


def bot_remove(*, lobby_id: str, session_id: str | None, bot_session_id: str) -> list[Event]:
    """A participant (or staff, with no ``session_id``) removes a bot: it leaves with ``reason: "left"``."""
    with transaction.atomic():
        if session_id is not None:
            selectors.bot_caller_check(lobby_id=lobby_id, session_id=session_id)
        bot = Bot.objects.select_for_update().filter(lobby_id=lobby_id, session_id=bot_session_id).first()
        if bot is None:
            raise PeerNotFoundError("There is no such bot in this lobby.")
        emitted = lobby_services.participant_dismiss(session_id=bot_session_id, lobby_id=lobby_id, reason="left")
        # Its session goes with it: a worker still holding the bot finds it gone.
        GuestSession.objects.filter(pk=bot_session_id).delete()
    return emitted


def bot_state_set(*, session_id: str, lobby_id: str, state: Any) -> list[Event]:
    """A bot's ``set_bot_state``: its participant's ``bot.state`` (and the bot's) change."""
    with transaction.atomic():
        participant, emitted = lobby_services.participant_set_bot_state(
            session_id=session_id, lobby_id=lobby_id, state=state
        )
        Bot.objects.filter(session_id=session_id).exclude(state=participant.bot_state).update(
            state=participant.bot_state
        )
    return emitted


# --- Worker side -------------------------------------------------------------


def worker_heartbeat(*, worker_id: str, capacity: int, kinds: dict[str, str | None],
                     stats: dict[str, Any] | None = None, now: datetime | None = None) -> None:
    """Register the worker, or tell that it is alive (and what it can run, and how it fares)."""
    now = now or timezone.now()
    fields: dict[str, Any] = {"last_heartbeat": now, "capacity": capacity, "kinds": kinds}
    if stats is not None:
        fields["stats"] = stats
    if not BotWorker.objects.filter(pk=worker_id).update(**fields):
        BotWorker.objects.create(id=worker_id, host=socket.gethostname(), pid=os.getpid(), started_at=now, **fields)


def worker_stop(*, worker_id: str) -> int:
    """A worker that stops cleanly hands its bots back at once; returns how many."""
    with transaction.atomic():
        released = Bot.objects.filter(worker_id=worker_id).update(worker=None, lease_until=None)
        BotWorker.objects.filter(pk=worker_id).delete()
    return released


@dataclass(frozen=True)
class BotAssignment:
    """A bot a worker took: what it needs to join and run it."""

    bot_id: int
    session_id: str
    lobby_id: str
    kind: str
    name: str
    profile: BotProfile | None
    claims: int


def _free(now: datetime) -> Q:
    return Q(worker__isnull=True) | Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def bot_claim(*, worker_id: str, limit: int, kinds: list[str], now: datetime | None = None) -> list[BotAssignment]:
    """Take up to ``limit`` free bots of ``kinds`` in open lobbies, oldest first."""
    if limit <= 0 or not kinds:
        return []
    now = now or timezone.now()
    lease_until = now + timedelta(seconds=settings.VOICEBOT_BOT_LEASE)
    won: list[int] = []
    free = Bot.objects.filter(_free(now), kind__in=kinds, lobby__closed_at__isnull=True)
    # Most rounds find nothing: a read, without the write transaction (SQLite's write lock).
    if not free.exists():
        return []
    with transaction.atomic():
        candidates = free.order_by("created_at", "id")
        # Rows locked here are this worker's to take: lock no more than it takes.
        # Without skip_locked (SQLite), look a little further, some may be gone.
        skip_locked = connection.features.has_select_for_update_skip_locked
        if skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        for pk in list(candidates.values_list("pk", flat=True)[: limit if skip_locked else limit * 4]):
            if len(won) >= limit:
                break
            # Only while it is still free: of two workers, one wins.
            if Bot.objects.filter(_free(now), pk=pk).update(
                worker_id=worker_id, lease_until=lease_until, claims=F("claims") + 1
            ):
                won.append(pk)
    bots = Bot.objects.filter(pk__in=won, worker_id=worker_id).select_related("session", "profile")
    return [
        BotAssignment(bot_id=bot.pk, session_id=bot.session_id, lobby_id=bot.lobby_id, kind=bot.kind,
                      name=bot.session.name, profile=bot.profile, claims=bot.claims)
        for bot in bots.order_by("created_at", "id")
    ]


def bot_leases_renew(*, worker_id: str, bot_ids: list[int], now: datetime | None = None) -> set[int]:
    """Move the leases of the worker's running bots on; the ids it still holds.

    A bot missing from the answer was removed, or taken by another worker
    after this one's lease ran out: the worker must stop running it.
    """
    if not bot_ids:
        return set()
    now = now or timezone.now()
    with transaction.atomic():
        held = Bot.objects.filter(worker_id=worker_id, pk__in=bot_ids)
        held.update(lease_until=now + timedelta(seconds=settings.VOICEBOT_BOT_LEASE))
        return set(held.values_list("pk", flat=True))


def bot_release(*, worker_id: str, bot_id: int) -> None:
    """The worker stops running one bot that should go on (another worker may take it at once)."""
    Bot.objects.filter(pk=bot_id, worker_id=worker_id).update(worker=None, lease_until=None)


def bot_finish(*, bot_id: int) -> None:
    """The bot left its lobby for good (it emptied, closed, or someone removed the bot): forget it."""
    session_id = Bot.objects.filter(pk=bot_id).values_list("session_id", flat=True).first()
    if session_id is not None:
        GuestSession.objects.filter(pk=session_id, is_bot=True).delete()


def workers_sweep(*, now: datetime | None = None) -> None:
    """Forget workers long dead, and free bots of closed lobbies."""
    now = now or timezone.now()
    BotWorker.objects.filter(
        last_heartbeat__lt=now - timedelta(seconds=settings.VOICEBOT_BOT_LEASE * FORGET_WORKER_AFTER_LEASES)
    ).delete()
    GuestSession.objects.filter(is_bot=True, bot__lobby__closed_at__isnull=False, bot__worker__isnull=True).delete()
