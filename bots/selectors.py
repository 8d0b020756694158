"""Reads of bots, their profiles and workers, and which kinds can join now."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from bots.kinds.catalog import KINDS, NOT_BUILT
from bots.models import Bot, BotProfile, BotWorker
from errors.exceptions import ForbiddenError, UnauthenticatedError
from lobbies.exceptions import LobbyNotFoundError
from lobbies.models import GuestSession, Lobby, Participant

NO_WORKER = "No bot worker is running: start one with manage.py runbots (make run starts one)."
WORKERS_FULL = "Every bot worker is busy with other bots. Try again in a moment."
NOT_ON_WORKER = "No running bot worker can run this kind of bot."


def workers_alive(*, now: datetime | None = None) -> list[BotWorker]:
    """Workers whose heartbeat is younger than a lease, with how many bots each holds."""
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.VOICEBOT_BOT_LEASE)
    return list(BotWorker.objects.filter(last_heartbeat__gte=since).annotate(carried=Count("bots")))


def bot_kind_unavailable_reason(kind: str, *, now: datetime | None = None) -> str | None:
    """Why a bot of ``kind`` cannot join now (in words), or None when a worker can take it."""
    return _kind_reasons(now=now).get(kind, NOT_BUILT)


def _kind_reasons(*, now: datetime | None = None) -> dict[str, str | None]:
    alive = workers_alive(now=now)
    waiting = Bot.objects.filter(worker__isnull=True, lobby__closed_at__isnull=True).count()
    free = sum(max(0, worker.capacity - worker.carried) for worker in alive) - waiting  # type: ignore[attr-defined]
    reasons: dict[str, str | None] = {}
    for kind, entry in KINDS.items():
        if entry.behaviour is None:
            reasons[kind] = NOT_BUILT
        elif not alive:
            reasons[kind] = NO_WORKER
        else:
            said = [worker.kinds.get(kind, NOT_ON_WORKER) for worker in alive]
            if None not in said:
                reasons[kind] = next((reason for reason in said if reason), NOT_ON_WORKER)
            elif free <= 0:
                reasons[kind] = WORKERS_FULL
            else:
                reasons[kind] = None
    return reasons


def bot_kinds_list() -> list[dict[str, Any]]:
    """The protocol's BotKind objects, every kind the protocol knows."""
    reasons = _kind_reasons()
    return [
        {"kind": kind, "available": reasons[kind] is None, "description": entry.description,
         "reason": reasons[kind]}
        for kind, entry in KINDS.items()
    ]


def bot_profiles_list() -> list[dict[str, Any]]:
    return [
        {"id": profile.id, "name": profile.name, "kind": profile.kind, "description": profile.description}
        for profile in BotProfile.objects.order_by("kind", "name")
    ]


def bot_caller_check(*, lobby_id: str, session_id: str) -> Lobby:
    """The open lobby when the caller may add or remove its bots; the protocol's errors, in order."""
    if not GuestSession.objects.filter(pk=session_id).exists():
        raise UnauthenticatedError("Your session no longer exists. Start a new session.")
    lobby = Lobby.objects.filter(pk=lobby_id, closed_at__isnull=True).first()
    if lobby is None:
        raise LobbyNotFoundError()
    if not Participant.objects.filter(lobby=lobby, session_id=session_id).exists():
        raise ForbiddenError("Only a participant of this lobby can add or remove its bots. Join it first.")
    return lobby


@dataclass(frozen=True)
class BotIdentity:
    """What a bot's participant shows of it."""

    kind: str
    profile_id: str


def bot_identity(*, session_id: str) -> BotIdentity | None:
    row = Bot.objects.filter(session_id=session_id).values_list("kind", "profile_id").first()
    return None if row is None else BotIdentity(kind=row[0], profile_id=row[1] or "")
