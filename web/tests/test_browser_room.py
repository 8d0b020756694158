"""What a new user meets in the first hour, in real Chromium pages against a real daphne.

Chat under the rate limit (order, countdown), the chat history opening at the
newest line, the home page's messages, limits, search and pages, and the
room's voice controls: volume per person, mute and push to talk by keyboard,
and the speaking indicator for a sender that marks no audio levels.
"""
from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from typing import Any

import pytest

from web.tests.chromium import WITHOUT_AUDIO_LEVELS
from web.tests.lobby_pages import (
    api_post,
    create_lobby,
    join,
    participant,
    wait_audio_flowing,
    wait_in_room,
)
from web.tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CHAT_RATE = (5, 4)  # lines per seconds


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {
        "VOICEBOT_CHAT_RATE": f"{CHAT_RATE[0]}/{CHAT_RATE[1]} seconds",
        "VOICEBOT_LOBBY_RATE": "100/1 minute",
        "VOICEBOT_LOBBY_ADDRESS_RATE": "100/1 minute",
    }


async def chat_texts(page: Any) -> list[str]:
    return [text.strip() for text in await page.locator("#chat-log .chat-text").all_text_contents()]


async def post_chat(daphne_server: Any, lobby_id: str, name: str, texts: list[str]) -> None:
    """Another participant, on a plain WebSocket, says ``texts`` and leaves."""
    from websockets.asyncio.client import connect

    session = await asyncio.to_thread(api_post, daphne_server.url, "/api/sessions", {})
    async with connect(f"ws://127.0.0.1:{daphne_server.port}/ws/lobby/{lobby_id}/?token={session['token']}") as socket:
        await socket.send(json.dumps({"type": "join", "name": name}))
        for index, text in enumerate(texts):
            await socket.send(json.dumps({"type": "chat", "id": f"c{index}", "text": text}))
            while json.loads(await asyncio.wait_for(socket.recv(), 10)).get("in_reply_to") != f"c{index}":
                pass
        # Leaving on purpose frees the seat at once (a dropped socket would hold it for the grace period).
        await socket.send(json.dumps({"type": "leave"}))
        await socket.send(json.dumps({"type": "ping", "id": "after-leave"}))
        while json.loads(await asyncio.wait_for(socket.recv(), 10)).get("in_reply_to") != "after-leave":
            pass


async def test_chat_lines_keep_their_order_under_the_rate_limit_and_the_notice_counts_down(
    open_page: Any, daphne_server: Any
) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Chatty")
    await join(ann, "Ann")
    await wait_in_room(ann, 1)
    # History from before: enough lines that the log scrolls.
    await asyncio.gather(*(post_chat(daphne_server, lobby_id, f"Old{n}", [f"old {n}.{i}" for i in range(5)])
                           for n in range(8)))
    bob = await open_page("bob")
    await join(bob, "Bob", lobby_id=lobby_id)
    await wait_in_room(bob, 2)

    # The chat opens at the newest line.
    log = bob.locator("#chat-log")
    assert await log.evaluate("(log) => log.scrollHeight > log.clientHeight + 100"), "the history overflows the log"
    assert await log.evaluate("(log) => log.scrollHeight - log.scrollTop - log.clientHeight < 4")
    assert re.fullmatch(r"old \d\.4", (await chat_texts(bob))[-1])

    # Ann sends more lines than the limit lets through at once.
    lines = [f"m{i}" for i in range(1, 9)]
    box = ann.get_by_label("Message", exact=True)
    for text in lines:
        await box.fill(text)
        await box.press("Enter")
    notice = ann.locator(".notice[data-key=chat-wait]")
    await notice.wait_for()
    # "Trying again in 2 s", or "Trying again…" once the countdown has run out and the line is sent again.
    assert (await notice.locator(".notice-text").text_content()).startswith(
        "You are sending chat messages too fast. Wait a moment. Trying again"
    )
    await notice.locator(".notice-detail", has_text="messages are waiting to be sent, in order.").wait_for()

    async def countdown() -> int | None:
        text = await notice.locator(".notice-countdown").text_content() if await notice.count() else ""
        match = re.search(r"in (\d+) s", text or "")
        return int(match.group(1)) if match else None

    # Read every 0.2 s until one reading is below the one before: a reading of 1 s may be followed by
    # the next refusal's new countdown (on a busy machine the first reading comes late).
    readings = [await eventually(countdown, what="a countdown")]

    async def ticked_down() -> bool:
        now = await countdown()
        if now is not None:
            readings.append(now)
        return any(later < earlier for earlier, later in zip(readings, readings[1:]))

    await eventually(ticked_down, deadline=15, what="the countdown going down")
    await notice.wait_for(state="detached", timeout=20_000)

    # Everyone got them in the order Ann typed them, and the lobby stored them in that order.
    await eventually(lambda: _ends_with(bob, lines), what="all lines on Bob's page")
    assert (await chat_texts(ann))[-len(lines):] == lines
    assert (await chat_texts(bob))[-len(lines):] == lines
    await bob.reload()
    await wait_in_room(bob, 2)
    assert (await chat_texts(bob))[-len(lines):] == lines


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


async def _ends_with(page: Any, lines: list[str]) -> bool:
    return (await chat_texts(page))[-len(lines):] == lines


async def test_the_home_page_says_the_servers_words_the_limits_and_pages_and_searches(
    open_page: Any, daphne_server: Any
) -> None:
    owner = await asyncio.to_thread(api_post, daphne_server.url, "/api/sessions", {})
    for index in range(23):
        fields = {"name": f"Chess club {index}" if index % 2 else f"Book club {index}"}
        if index == 3:
            fields["description"] = "Openings and endgames"
        await asyncio.to_thread(api_post, daphne_server.url, "/api/lobbies", fields, owner["token"])
    listed = await asyncio.to_thread(_get_json, f"{daphne_server.url}/api/lobbies")
    assert 20 < listed["total"] <= 40, listed["total"]
    page = await open_page("newcomer")
    await page.goto("/")

    # A name of spaces: the server's sentence, not "malformed message".
    await page.get_by_label("Name", exact=True).fill("     ")
    await page.get_by_role("button", name="Create and join").click()
    error = page.locator(".notice[data-key=create]")
    await error.wait_for()
    assert (await error.locator(".notice-text").text_content()) == (
        "A lobby name is 1 to 64 characters after trimming spaces, with no control characters."
    )
    assert "malformed" not in await page.locator("body").inner_text()

    # The limit is said before it is reached, and a name past it is refused whole.
    await page.get_by_text("Up to 64 characters.").wait_for()
    name = page.get_by_label("Name", exact=True)
    await name.fill("n" * 60)
    assert (await page.locator("#lobby-name-count").text_content()).strip() == "60 / 64"
    await name.fill("n" * 66)
    assert (await page.locator("#lobby-name-count").text_content()).strip() == "66 / 64 · 2 too many"
    assert await name.input_value() == "n" * 66, "nothing is cut"
    await page.get_by_role("button", name="Create and join").click()
    await error.locator(".notice-text", has_text="A lobby name is at most 64 characters; this is 2 too many.").wait_for()
    assert page.url.endswith("/")

    # The list pages (20 a page), and searches on the server.
    state = page.locator("#lobby-list-state")
    await state.filter(has_text="page 1 of 2").wait_for()
    assert await page.locator("#lobby-list > li").count() == 20
    await page.get_by_role("button", name="Next page").click()
    await state.filter(has_text="page 2 of 2").wait_for()
    assert await page.locator("#lobby-list > li").count() == listed["total"] - 20
    assert "page=2" in page.url
    await page.get_by_label("Search lobbies").fill("endgame")
    await state.filter(has_text="1 lobby match “endgame”").wait_for()
    assert await page.locator("#lobby-list .lobby-name").all_text_contents() == ["Chess club 3"]
    await page.locator("#lobby-list .lobby-description", has_text="Openings and endgames").wait_for()
    await page.get_by_label("Search lobbies").fill("chess")
    await state.filter(has_text="11 lobbies match “chess”").wait_for()
    assert await page.locator("#lobby-pages").is_hidden()


async def test_volume_mute_and_push_to_talk_by_keyboard_and_speaking_without_level_marks(
    open_page: Any, daphne_server: Any
) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Voices")
    await join(ann, "Ann")
    # Bob stands in for a sender that marks no audio levels in its packets (as many bots).
    bob = await open_page("bob")
    await bob.context.add_init_script(WITHOUT_AUDIO_LEVELS)
    await join(bob, "Bob", lobby_id=lobby_id)
    await wait_in_room(ann, 2)
    await wait_in_room(bob, 2)
    await wait_audio_flowing([ann, bob], peers=1)
    assert await bob.evaluate(
        "window.__voicebotTest.peerConnections.at(-1).remoteDescription.sdp.includes('ssrc-audio-level')"
    ) is False

    # The fake microphone beeps: the indicator lights up from the decoded audio.
    await participant(ann, "Bob").and_(ann.locator("[data-speaking=true]")).wait_for()
    await participant(bob, "Ann").and_(bob.locator("[data-speaking=true]")).wait_for()

    # Bob's volume, on Ann's page only, remembered for the next time.
    slider = ann.get_by_label("Volume of Bob")
    await slider.fill("40")
    bob_id = await participant(ann, "Bob").get_attribute("data-session-id")
    volume = await ann.evaluate(f"document.querySelector('audio[data-peer-id=\"{bob_id}\"]').volume")
    assert abs(volume - 0.4) < 1e-6
    assert (await participant(ann, "Bob").locator(".volume-value").text_content()) == "40%"
    assert await ann.evaluate("JSON.parse(localStorage.getItem('voicebot.volumes')).bob") == 40

    # The shortcuts are on the page; M mutes and unmutes (not while typing).
    await ann.locator("#shortcuts", has_text="M mutes or unmutes").wait_for()
    await ann.locator("body").click(position={"x": 5, "y": 5})
    await ann.keyboard.press("m")
    await participant(bob, "Ann").and_(bob.locator("[data-muted=true]")).wait_for()
    await participant(ann, "Ann").and_(ann.locator("[data-speaking=false]")).wait_for()
    await ann.keyboard.press("m")
    await participant(bob, "Ann").and_(bob.locator("[data-muted=false]")).wait_for()
    await ann.get_by_label("Message", exact=True).fill("m")
    assert await ann.locator("#mute-toggle").get_attribute("aria-pressed") == "false", "typing m does not mute"

    # Push to talk: others hear Ann only while she holds Space.
    await ann.get_by_role("button", name="Push to talk").click()
    await participant(bob, "Ann").and_(bob.locator("[data-muted=true]")).wait_for()
    await ann.locator("#talk-state", has_text="hold Space or the button to talk").wait_for()
    await ann.keyboard.down(" ")
    await participant(bob, "Ann").and_(bob.locator("[data-muted=false]")).wait_for()
    await ann.locator("#talk-state", has_text="Others hear you.").wait_for()
    await ann.keyboard.up(" ")
    await participant(bob, "Ann").and_(bob.locator("[data-muted=true]")).wait_for()
    # The on-screen button does the same for a pointer.
    hold = ann.get_by_role("button", name="Hold to talk")
    await hold.hover()
    await ann.mouse.down()
    await participant(bob, "Ann").and_(bob.locator("[data-muted=false]")).wait_for()
    await ann.mouse.up()
    await participant(bob, "Ann").and_(bob.locator("[data-muted=true]")).wait_for()
