"""The echo bot end to end: a real server, a real worker, aiortc participants in a loopback-only namespace."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from bots.tests.rtc_client import RtcParticipant, ToneTrack, api, echo_delay, tone_power
from bots.tests.stack import BotStack, WorkerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ANN_TONE, BOB_TONE = 700.0, 1300.0


@pytest.fixture(scope="module")
def worker(bot_stack: BotStack) -> Iterator[WorkerProcess]:
    worker = bot_stack.worker()
    yield worker
    worker.stop()


async def new_lobby(stack: BotStack, name: str = "Mic check") -> str:
    owner = await asyncio.to_thread(api, stack.server.url, "POST", "/api/sessions", {})
    status, lobby = await asyncio.to_thread(api, stack.server.url, "POST", "/api/lobbies", {"name": name},
                                            owner[1]["token"])
    assert status == 201, lobby
    return str(lobby["id"])


def bot_state(frame: dict[str, Any], session_id: str, state: str) -> bool:
    return (frame["type"] == "participant_updated" and frame["participant"]["session_id"] == session_id
            and frame["participant"]["bot"]["state"] == state)


async def test_each_participant_hears_only_their_own_voice_back_within_a_second(
    bot_stack: BotStack, worker: WorkerProcess
) -> None:
    lobby_id = await new_lobby(bot_stack)
    ann = RtcParticipant(bot_stack.server.url, lobby_id, "Ann", track=ToneTrack(ANN_TONE))
    bob = RtcParticipant(bot_stack.server.url, lobby_id, "Bob", track=ToneTrack(BOB_TONE))
    try:
        await ann.join()
        await bob.join()
        status, body = await ann.add_bot("echo")
        assert status == 202, body
        bot_id = body["session_id"]
        for person in (ann, bob):
            joined = await person.wait_for(
                lambda f: f["type"] == "participant_joined" and f["participant"]["session_id"] == bot_id,
                deadline=30, what="the bot's participant_joined")
            assert joined["participant"]["is_bot"] is True
            assert joined["participant"]["bot"] == {"kind": "echo", "profile": None, "state": "starting"}
            assert joined["participant"]["name"] == "Echo"
        for person in (ann, bob):
            await person.connected_to(bot_id)
            await person.wait_for(lambda f: bot_state(f, bot_id, "listening"), what="the bot listening")
        await asyncio.sleep(0.5)

        for speaker, listener, tone, other_tone in ((ann, bob, ANN_TONE, BOB_TONE), (bob, ann, BOB_TONE, ANN_TONE)):
            assert isinstance(speaker.track, ToneTrack)
            speaker.track.burst(0.4)
            await asyncio.sleep(1.5)
            start = speaker.track.burst_starts[-1]
            delay = echo_delay(speaker.track, speaker.heard[bot_id], tone, after=start)
            assert delay is not None, f"{speaker.name} never heard their own voice back"
            assert 0.1 < delay < 1.0, delay
            # The one who kept quiet heard silence from the bot, and nobody heard the other's echo.
            window = listener.heard[bot_id].since(start)
            assert len(window) > 40
            assert max(tone_power(pcm, tone) for _, pcm in window) < 0.001
            assert listener.heard[bot_id].loudest(start, start + 1.5) < 0.01
            assert max(tone_power(pcm, other_tone) for _, pcm in speaker.heard[bot_id].since(start)) < 0.001
            print(f"{speaker.name}: echo after {delay * 1000:.0f} ms")
    finally:
        await ann.close()
        await bob.close()
