"""Reads of bots, their profiles and workers, and which kinds can join now."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from bots.kinds.catalog import KINDS, NOT_BUILT
from bots.models import Bot, BotKind, BotProfile, BotWorker
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
    """The protocol's BotProfile objects, each with whether it can join now and why not."""
    alive = workers_alive()
    reasons = _kind_reasons()
    listed = []
    for profile in BotProfile.objects.order_by("kind", "name"):
        reason = reasons.get(profile.kind, NOT_BUILT)
        if reason is None and profile.kind == BotKind.ASSISTANT:
            reason = profile_llm_unavailable_reason(profile.providers, alive)
        listed.append({"id": profile.id, "name": profile.name, "kind": profile.kind,
                       "description": profile.description, "available": reason is None, "reason": reason})
    return listed


STATE_ORDER = {"closed": 0, "half_open": 1, "open": 2, "unavailable": 3}


def profile_llm_unavailable_reason(selection: Any, alive: list[BotWorker]) -> str | None:
    """Why no worker could reach a language model the profile chose (as the workers report them), or None.

    A provider counts as up when some live worker's breaker for it is closed:
    half open is a breaker that opened and waits for a trial call to succeed,
    so the provider is still down as far as anyone knows.
    """
    states: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    order: list[str] = []
    for worker in alive:
        for index, health in enumerate(worker.stats.get("llm") or []):
            if not isinstance(health, dict):
                continue
            name = str(health.get("name"))
            chosen = not selection or name in selection or index in selection
            if not chosen:
                continue
            if name not in states:
                order.append(name)
            states.setdefault(name, []).append(str(health.get("state")))
            if health.get("reason"):
                reasons[name] = str(health["reason"])
    if not states:
        return None  # no worker reports on them (yet): the kind's own reason says enough
    if any(state == "closed" for name in order for state in states[name]):
        return None
    words = "; ".join(f"{name}: {reasons.get(name) or _state_words(states[name])}" for name in order)
    return f"Its language-model providers are unavailable ({words})."


def _state_words(states: list[str]) -> str:
    worst = max(states, key=lambda state: STATE_ORDER.get(state, 0))
    return {"open": "failing, tried again soon", "half_open": "failing, tried again now",
            "unavailable": "out of use"}.get(worst, worst.replace("_", " "))


def worker_breakers() -> dict[str, str]:
    """The breakers live workers report, each at its worst state among them (``llm.first`` -> ``open``)."""
    worst: dict[str, str] = {}
    for worker in workers_alive():
        breakers = worker.stats.get("breakers") or {}
        if not isinstance(breakers, dict):
            continue
        for name, state in breakers.items():
            if STATE_ORDER.get(str(state), 0) >= STATE_ORDER.get(worst.get(name, "closed"), 0):
                worst[str(name)] = str(state)
    return dict(sorted(worst.items()))


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
