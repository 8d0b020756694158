"""Chromium adds an echo bot from the lobby page and hears itself; the bot shows in the roster
with its state, is removed with its button, and transcripts show apart from typed chat.

The server runs its own bot worker (``manage.py serve --bot-workers 1``), as ``make run`` does.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from typing import Any

import pytest
from django.core import signing
from websockets.asyncio.client import connect

from web.tests.chromium import ARTIFACTS
from web.tests.lobby_pages import create_lobby, join, participant, wait_in_room
from web.tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]



@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {
        "VOICEBOT_SERVER": "uvicorn",
        "VOICEBOT_BOT_WORKERS": "1",
        # The worker's aiortc offers no loopback candidate by itself, and loopback is all the namespace has.
        "VOICEBOT_BOT_ICE_ADDRESSES": "127.0.0.1",
    }

# Per live RTCPeerConnection: the audio energy received so far, and the loudest level seen now.
INBOUND_AUDIO = """
async () => {
  const out = [];
  for (const pc of window.__voicebotTest.peerConnections.filter((p) => p.connectionState !== "closed")) {
    let energy = 0, level = 0, packets = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") {
        energy += r.totalAudioEnergy || 0; level = Math.max(level, r.audioLevel || 0); packets += r.packetsReceived || 0;
      }
    });
    out.push({ state: pc.connectionState, energy, level, packets });
  }
  return out;
}
"""


async def test_a_page_adds_an_echo_bot_hears_itself_and_removes_it(open_page: Any) -> None:
    ann = await open_page("ann")
    await create_lobby(ann, "Mic check")
    await join(ann, "Ann")
    await wait_in_room(ann, 1)

    # The menu lists every kind; those that cannot join are greyed out with their reason.
    choice = ann.get_by_label("Add a bot")
    # The page asks again while a kind is unavailable: the worker may still be starting.
    await eventually(lambda: ann.locator("#bot-choice option[value='kind:echo']:not([disabled])").count(),
                     deadline=60, what="echo offered")
    assistant = ann.locator("#bot-choice option[value='kind:assistant']")
    assert await assistant.is_disabled()
    # No language-model provider is configured here: the reason names the setting.
    assert "VOICEBOT_LLM_PROVIDERS" in (await assistant.get_attribute("title") or "")
    assert (await assistant.text_content()) == "Assistant (unavailable)"
    await choice.select_option("kind:echo")
    assert "microphone check" in (await ann.locator("#bot-hint").text_content() or "")
    await ann.get_by_role("button", name="Add", exact=True).click()

    echo = participant(ann, "Echo")
    await echo.locator(".badge-bot", has_text="Bot · Echo").wait_for(timeout=30_000)
    await echo.and_(ann.locator("[data-bot-state=listening]")).wait_for(timeout=30_000)
    assert (await echo.locator(".badge-bot-state").text_content()) == "Listening"
    await ann.locator("#people-count", has_text="(2)").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    await ann.screenshot(path=str(ARTIFACTS / "screenshot-lobby-bot.png"))

    # Chromium's fake microphone beeps; the bot plays the beeps back to this page.
    async def hears_the_bot() -> Any:
        [link] = await ann.evaluate(INBOUND_AUDIO) or [None]
        return link if link and link["state"] == "connected" and link["energy"] > 0.001 else None

    heard = await eventually(hears_the_bot, deadline=30, what="audio energy from the echo bot")
    print("inbound from the echo bot:", heard)
    assert heard["packets"] > 10  # (audioLevel is of this instant: between two beeps it is 0)

    await echo.get_by_role("button", name="Remove Echo").click()
    await echo.wait_for(state="detached")
    await ann.locator("#people-count", has_text="(1)").wait_for()


def _server_rows(url: str, sql: str, params: tuple[Any, ...]) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as conn:
            conn.execute(sql.replace("%s", "?"), params)
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, params)


async def test_transcripts_show_apart_from_typed_chat(open_page: Any, daphne_server: Any) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Captions")
    await join(ann, "Ann")
    await wait_in_room(ann, 1)
    ann_id = await ann.locator("#participants > li[data-self=true]").get_attribute("data-session-id")

    # A bot of the test's own, written as the server would and its token signed with the
    # server's key. Its kind is the assistant's, the one kind this server's worker cannot run
    # (no language model is configured), so that no worker claims it and takes its session.
    bot_id = uuid.uuid4().hex
    url = daphne_server.env["DATABASE_URL"]
    await asyncio.to_thread(_server_rows, url, "INSERT INTO lobbies_guestsession (id, name, is_bot, created_at) "
                            "VALUES (%s, %s, %s, CURRENT_TIMESTAMP)", (bot_id, "Captions", True))
    await asyncio.to_thread(_server_rows, url, "INSERT INTO bots_bot (session_id, lobby_id, kind, state, "
                            "requested_by, claims, created_at) VALUES (%s, %s, %s, %s, %s, 0, CURRENT_TIMESTAMP)",
                            (bot_id, lobby_id, "assistant", "starting", ""))
    token = signing.TimestampSigner(key=daphne_server.env["SECRET_KEY"], salt="voicebot.session-token").sign(bot_id)
    async with connect(f"ws://127.0.0.1:{daphne_server.port}/ws/lobby/{lobby_id}/?token={token}") as bot:
        await bot.send(json.dumps({"type": "join"}))
        await participant(ann, "Captions").locator(".badge-bot", has_text="Assistant").wait_for()
        await bot.send(json.dumps({"type": "chat", "text": "hello everyone", "transcript": {"speaker_session_id": ann_id}}))
        await bot.send(json.dumps({"type": "chat", "text": "I write down what you say."}))
        transcript = ann.locator("#transcript-log li", has_text="hello everyone")
        await transcript.wait_for()
        assert (await transcript.locator(".transcript-speaker").text_content()) == "Ann"
        await ann.locator("#chat-log li", has_text="I write down what you say.").wait_for()
        assert await ann.locator("#chat-log li", has_text="hello everyone").count() == 0
        # A reload shows them apart again, from the history.
        await ann.reload()
        await wait_in_room(ann, 2)
        await ann.locator("#transcript-log li", has_text="hello everyone").wait_for()
        assert await ann.locator("#chat-log li", has_text="hello everyone").count() == 0
