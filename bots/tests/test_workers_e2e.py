"""Bot workers end to end: a killed worker's bot comes back through another, a clean stop hands
bots back, two workers share the bots without ever running one twice, and a bot leaves a lobby
that empties, closes, or removes it. Real processes in a loopback-only namespace."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from bots.tests.rtc_client import RtcParticipant, ToneTrack, api, echo_delay
from bots.tests.staff import StaffBrowser
from bots.tests.stack import BotStack
from bots.tests.test_echo_e2e import new_lobby
from web.tests.polling import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

GRACE = 20.0


def status_of(frame: dict[str, Any], session_id: str, status: str) -> bool:
    return (frame["type"] == "participant_updated" and frame["participant"]["session_id"] == session_id
            and frame["participant"]["status"] == status)


def left(frame: dict[str, Any], session_id: str) -> bool:
    return frame["type"] == "participant_left" and frame["session_id"] == session_id


async def bot_in(person: RtcParticipant, kind: str = "echo") -> str:
    status, body = await person.add_bot(kind)
    assert status == 202, body
    bot_id = str(body["session_id"])
    await person.wait_for(lambda f: f["type"] == "participant_joined" and f["participant"]["session_id"] == bot_id,
                          deadline=30, what="the bot joining")
    return bot_id


async def hears_itself(person: RtcParticipant, bot_id: str) -> float:
    await person.connected_to(bot_id)
    await asyncio.sleep(0.5)
    assert isinstance(person.track, ToneTrack)
    person.track.burst(0.3)
    await asyncio.sleep(1.3)
    delay = echo_delay(person.track, person.heard[bot_id], person.track.frequency,
                       after=person.track.burst_starts[-1])
    assert delay is not None and delay < 1.0, delay
    return delay


async def holder(stack: BotStack, bot_id: str) -> str | None:
    return (await asyncio.to_thread(stack.holders)).get(bot_id)


async def test_a_killed_workers_bot_resumes_through_another_and_a_clean_stop_hands_it_back(
    bot_stack: BotStack,
) -> None:
    first = await asyncio.to_thread(bot_stack.worker)
    ann = RtcParticipant(bot_stack.server.url, await new_lobby(bot_stack), "Ann", track=ToneTrack(700))
    try:
        await ann.join()
        bot_id = await bot_in(ann)
        await hears_itself(ann, bot_id)
        workers = await asyncio.to_thread(bot_stack.worker_ids)
        assert await holder(bot_stack, bot_id) == workers[first.pid]
        second = await asyncio.to_thread(bot_stack.worker)

        # SIGKILL: no hand-back, no goodbye. The bot's socket drops; the second
        # worker takes it once the lease has run out and resumes its session.
        ann.frames.clear()
        killed_at = time.monotonic()
        await asyncio.to_thread(first.kill)
        await ann.wait_for(lambda f: status_of(f, bot_id, "reconnecting"), what="the bot reconnecting")
        await ann.wait_for(lambda f: status_of(f, bot_id, "connected"), deadline=GRACE, what="the bot resumed")
        back_after = time.monotonic() - killed_at
        print(f"killed worker's bot back after {back_after:.1f} s")
        assert back_after < GRACE
        assert not [f for f in ann.frames if left(f, bot_id)]
        workers = await asyncio.to_thread(bot_stack.worker_ids)
        assert await holder(bot_stack, bot_id) == workers[second.pid], (workers, bot_stack.logs())
        await hears_itself(ann, bot_id)

        # A clean stop hands the bot back at once: a third worker resumes it.
        third = await asyncio.to_thread(bot_stack.worker)
        ann.frames.clear()
        stopped_at = time.monotonic()
        assert await asyncio.to_thread(second.stop) == 0
        assert "1 bots handed back" in second.log_text()
        await ann.wait_for(lambda f: status_of(f, bot_id, "reconnecting"), what="the bot reconnecting again")
        await ann.wait_for(lambda f: status_of(f, bot_id, "connected"), deadline=GRACE, what="the bot resumed again")
        handed_over = time.monotonic() - stopped_at
        print(f"cleanly stopped worker's bot back after {handed_over:.1f} s")
        assert handed_over < 5.0
        workers = await asyncio.to_thread(bot_stack.worker_ids)
        assert await holder(bot_stack, bot_id) == workers[third.pid]
        assert second.pid not in workers
        await hears_itself(ann, bot_id)
        # Ann leaves: the bot leaves after her, and is forgotten (before the next test's workers start).
        await ann.close()
        end = time.monotonic() + 15
        while bot_id in await asyncio.to_thread(bot_stack.holders):
            assert time.monotonic() < end, "the bot stayed after the last person left"
            await asyncio.sleep(0.2)
        await asyncio.to_thread(third.stop)
    finally:
        await ann.close()


async def test_two_workers_share_the_bots_and_never_run_one_twice(bot_stack: BotStack) -> None:
    workers = [await asyncio.to_thread(bot_stack.worker, capacity=2) for _ in range(2)]
    people = [RtcParticipant(bot_stack.server.url, await new_lobby(bot_stack, f"Room {n}"), f"P{n}")
              for n in range(4)]
    try:
        for person in people:
            await person.join()
        try:
            bots = [await bot_in(person) for person in people]
        except AssertionError:
            raise AssertionError(await asyncio.to_thread(
                bot_stack.rows, "SELECT b.id, b.worker_id, b.lease_until, w.last_heartbeat, l.closed_at FROM bots_bot b "
                "LEFT JOIN bots_botworker w ON w.id = b.worker_id JOIN lobbies_lobby l ON l.id = b.lobby_id")) from None
        ours = {bot_pk for (bot_pk,) in await asyncio.to_thread(
            bot_stack.rows, "SELECT id FROM bots_bot WHERE session_id IN (%s, %s, %s, %s)", tuple(bots))}
        assert len(ours) == 4

        def carried() -> list[dict[str, Any]]:
            rows = bot_stack.rows("SELECT pid, stats FROM bots_botworker WHERE pid IN (%s, %s)",
                                  (workers[0].pid, workers[1].pid))
            return [json.loads(stats) if isinstance(stats, str) else stats for _, stats in rows]

        def settled() -> list[dict[str, Any]] | None:
            # The stats are those of each worker's last heartbeat: a bot taken since is not in them yet
            # (a heartbeat may come late on a busy machine), so wait for both to tell the four.
            stats = carried()
            ids = sorted(bot for one in stats for bot in one["bots_carried"])
            return stats if ids == sorted(ours) else None

        stats = await asyncio.to_thread(wait_until, settled, deadline=20, what="both workers' stats")
        assert sorted(one["bots"] for one in stats) == [2, 2], stats
        # Nothing took over anyone's socket: every bot stayed connected, once.
        for person, bot_id in zip(people, bots, strict=True):
            assert not [f for f in person.frames if status_of(f, bot_id, "reconnecting") or left(f, bot_id)]
        # A fifth bot finds no room: the workers are full.
        fourth = RtcParticipant(bot_stack.server.url, await new_lobby(bot_stack, "Room 5"), "P5")
        people.append(fourth)
        await fourth.join()
        status, body = await fourth.add_bot("echo")
        assert (status, body["code"], body["recovery"]) == (503, "bot_unavailable", "retry")
        kinds = {k["kind"]: k for k in (await asyncio.to_thread(api, bot_stack.server.url, "GET", "/api/bots"))[1]["kinds"]}
        assert kinds["echo"]["available"] is False and "busy" in kinds["echo"]["reason"]
    finally:
        for person in people:
            await person.close()
        for worker in workers:
            await asyncio.to_thread(worker.stop)


async def test_a_bot_leaves_a_lobby_that_empties_closes_or_removes_it(bot_stack: BotStack, tmp_path: Any) -> None:
    worker = await asyncio.to_thread(bot_stack.worker)
    url = bot_stack.server.url
    try:
        # Removed by a participant: it leaves with reason "left" and is forgotten.
        ann = RtcParticipant(url, await new_lobby(bot_stack, "Removal"), "Ann")
        await ann.join()
        bot_id = await bot_in(ann)
        status, _ = await asyncio.to_thread(api, url, "DELETE", f"/api/lobbies/{ann.lobby_id}/bots/{bot_id}",
                                            None, ann.token)
        assert status == 204
        frame = await ann.wait_for(lambda f: left(f, bot_id), what="the removed bot leaving")
        assert frame["reason"] == "left"
        await ann.close()

        # The last person leaves: the bot leaves too.
        bob = RtcParticipant(url, await new_lobby(bot_stack, "Emptying"), "Bob")
        await bob.join()
        emptied_bot = await bot_in(bob)
        await bob.send({"type": "leave"})
        await bob.close()

        # Staff close the lobby: the bot's socket is closed with 4004 and it is forgotten.
        cleo = RtcParticipant(url, await new_lobby(bot_stack, "Closing"), "Cleo")
        await cleo.join()
        closed_bot = await bot_in(cleo)
        staff = await asyncio.to_thread(StaffBrowser, bot_stack.server, tmp_path / "staff.log")
        await asyncio.to_thread(staff.action, "/admin/lobbies/lobby/", "close_lobbies", [cleo.lobby_id])
        await cleo.close()

        def gone() -> bool:
            return not {bot_id, emptied_bot, closed_bot} & set(bot_stack.holders()) and not bot_stack.rows(
                "SELECT id FROM lobbies_participant WHERE session_id IN (%s, %s, %s)",
                (bot_id, emptied_bot, closed_bot))

        end = time.monotonic() + 15
        while not await asyncio.to_thread(gone):
            assert time.monotonic() < end, bot_stack.holders()
            await asyncio.sleep(0.3)
        status, lobby = await asyncio.to_thread(api, url, "GET", f"/api/lobbies/{bob.lobby_id}")
        assert lobby["participants"] == []
        assert worker.process.poll() is None
    finally:
        await asyncio.to_thread(worker.stop)
