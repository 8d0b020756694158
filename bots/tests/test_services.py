"""Bots and workers in the database: claims that two workers never both win, leases, hand-backs."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from bots import services
from bots.models import Bot, BotWorker
from lobbies.models import GuestSession
from lobbies.moderation import lobby_close
from lobbies.services import session_create


def registered(*worker_ids: str) -> None:
    for worker_id in worker_ids:
        services.worker_heartbeat(worker_id=worker_id, capacity=8, kinds={"echo": None})


def make_bots(lobby_id: str, count: int, kind: str = "echo") -> list[Bot]:
    bots = []
    for n in range(count):
        session, _ = session_create(name=f"Bot {n}", is_bot=True)
        bots.append(Bot.objects.create(session=session, lobby_id=lobby_id, kind=kind))
    return bots


@pytest.mark.django_db(transaction=True)
def test_workers_claiming_at_once_never_win_the_same_bot(new_lobby: Callable[..., str]) -> None:
    """Eight threads, each a worker with its own database connection, claim at the same moment."""
    lobby_id = new_lobby()
    make_bots(lobby_id, 12)
    workers = [f"{n:032d}" for n in range(8)]
    registered(*workers)
    won: dict[str, list[int]] = {worker: [] for worker in workers}
    failures: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def claim(worker: str) -> None:
        try:
            start.wait()
            for _ in range(3):
                won[worker] += [a.bot_id for a in services.bot_claim(worker_id=worker, limit=2, kinds=["echo"])]
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    claimed = [bot for bots in won.values() for bot in bots]
    assert len(claimed) == len(set(claimed))  # no bot twice
    # Whatever the race left free, one more worker takes: then every bot was taken exactly once.
    registered("9" * 32)
    rest = [a.bot_id for a in services.bot_claim(worker_id="9" * 32, limit=12, kinds=["echo"])]
    assert sorted(claimed + rest) == sorted(Bot.objects.values_list("pk", flat=True))
    assert len(claimed) >= 6
    assert all(len(bots) <= 6 for bots in won.values())
    for worker, bots in won.items():
        assert set(Bot.objects.filter(pk__in=bots).values_list("worker_id", flat=True)) <= {worker}
    assert set(Bot.objects.values_list("claims", flat=True)) == {1}


@pytest.mark.django_db
def test_a_claim_takes_free_bots_of_runnable_kinds_in_open_lobbies_oldest_first(new_lobby: Callable[..., str]) -> None:
    lobby_id, closed = new_lobby(), new_lobby()
    first, second = make_bots(lobby_id, 2)
    make_bots(lobby_id, 1, kind="announcer")
    make_bots(closed, 1)
    lobby_close(lobby_id=closed)
    registered("a" * 32, "b" * 32, "c" * 32)

    [taken] = services.bot_claim(worker_id="a" * 32, limit=1, kinds=["echo"])
    assert (taken.bot_id, taken.session_id, taken.lobby_id, taken.kind, taken.name, taken.claims) == (
        first.pk, first.session_id, lobby_id, "echo", "Bot 0", 1)
    assert [a.bot_id for a in services.bot_claim(worker_id="b" * 32, limit=5, kinds=["echo"])] == [second.pk]
    assert services.bot_claim(worker_id="c" * 32, limit=5, kinds=["echo"]) == []
    assert services.bot_claim(worker_id="c" * 32, limit=0, kinds=["echo"]) == []
    assert services.bot_claim(worker_id="c" * 32, limit=5, kinds=[]) == []


@pytest.mark.django_db
def test_a_lease_that_ran_out_lets_another_worker_take_the_bot(new_lobby: Callable[..., str], settings: Any) -> None:
    [bot] = make_bots(new_lobby(), 1)
    registered("a" * 32, "b" * 32)
    now = timezone.now()
    services.bot_claim(worker_id="a" * 32, limit=1, kinds=["echo"], now=now)
    # Renewed in time, it stays with its worker.
    later = now + timedelta(seconds=settings.VOICEBOT_BOT_LEASE - 1)
    assert services.bot_leases_renew(worker_id="a" * 32, bot_ids=[bot.pk], now=later) == {bot.pk}
    assert services.bot_claim(worker_id="b" * 32, limit=1, kinds=["echo"],
                              now=later + timedelta(seconds=settings.VOICEBOT_BOT_LEASE - 1)) == []
    # Its worker went silent: after the lease, another takes it, and the old one learns it lost it.
    gone = later + timedelta(seconds=settings.VOICEBOT_BOT_LEASE + 1)
    [taken] = services.bot_claim(worker_id="b" * 32, limit=1, kinds=["echo"], now=gone)
    assert taken.claims == 2
    assert services.bot_leases_renew(worker_id="a" * 32, bot_ids=[bot.pk], now=gone) == set()
    assert Bot.objects.get(pk=bot.pk).worker_id == "b" * 32


@pytest.mark.django_db
def test_a_clean_stop_hands_every_bot_back_at_once(new_lobby: Callable[..., str]) -> None:
    bots = make_bots(new_lobby(), 3)
    registered("a" * 32, "b" * 32)
    services.bot_claim(worker_id="a" * 32, limit=3, kinds=["echo"])
    assert services.worker_stop(worker_id="a" * 32) == 3
    assert not BotWorker.objects.filter(pk="a" * 32).exists()
    assert [a.bot_id for a in services.bot_claim(worker_id="b" * 32, limit=3, kinds=["echo"])] == [b.pk for b in bots]


@pytest.mark.django_db
def test_heartbeats_register_and_refresh_a_worker(settings: Any) -> None:
    now = timezone.now()
    services.worker_heartbeat(worker_id="a" * 32, capacity=2, kinds={"echo": None, "assistant": "not built"}, now=now)
    services.worker_heartbeat(worker_id="a" * 32, capacity=3, kinds={"echo": None}, stats={"bots": 1},
                              now=now + timedelta(seconds=2))
    worker = BotWorker.objects.get()
    assert (worker.capacity, worker.kinds, worker.stats, worker.started_at, worker.last_heartbeat) == (
        3, {"echo": None}, {"bots": 1}, now, now + timedelta(seconds=2))


@pytest.mark.django_db
def test_finishing_forgets_the_bot_and_its_session_and_the_sweep_forgets_the_long_dead(
    new_lobby: Callable[..., str], settings: Any
) -> None:
    first, second = make_bots(new_lobby(), 2)
    services.bot_finish(bot_id=first.pk)
    services.bot_finish(bot_id=first.pk)  # twice: nothing more happens
    assert not GuestSession.objects.filter(pk=first.session_id).exists()
    assert Bot.objects.get().pk == second.pk

    closed = new_lobby()
    [orphan] = make_bots(closed, 1)
    lobby_close(lobby_id=closed)
    now = timezone.now()
    services.worker_heartbeat(worker_id="a" * 32, capacity=1, kinds={}, now=now - timedelta(hours=1))
    services.worker_heartbeat(worker_id="b" * 32, capacity=1, kinds={}, now=now)
    services.workers_sweep(now=now)
    assert list(BotWorker.objects.values_list("pk", flat=True)) == ["b" * 32]
    assert not Bot.objects.filter(pk=orphan.pk).exists()
    assert Bot.objects.filter(pk=second.pk).exists()


@pytest.mark.django_db
def test_releasing_a_bot_frees_only_a_bot_the_worker_holds(new_lobby: Callable[..., str]) -> None:
    [bot] = make_bots(new_lobby(), 1)
    registered("a" * 32, "b" * 32)
    services.bot_claim(worker_id="a" * 32, limit=1, kinds=["echo"])
    services.bot_release(worker_id="b" * 32, bot_id=bot.pk)
    assert Bot.objects.get().worker_id == "a" * 32
    services.bot_release(worker_id="a" * 32, bot_id=bot.pk)
    assert (Bot.objects.get().worker_id, Bot.objects.get().lease_until) == (None, None)
