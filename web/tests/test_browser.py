"""Real Chromium pages talking to each other through a real daphne.

Each test drives the pages through the UI, as people would, and checks the
media with getStats(): every pair of peer connections reaches "connected"
and receives audio (Chromium's fake microphone) both ways.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from web.tests.chromium import ARTIFACTS, CHROMIUM_ARGS
from web.tests.lobby_pages import (
    api_post,
    create_lobby,
    join,
    participant,
    peer_stats,
    wait_audio_flowing,
    wait_in_room,
)
from web.tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def test_two_people_talk_chat_see_mute_and_leave(open_page: Any) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Friday game night")
    await join(ann, "Ann")
    await wait_in_room(ann, 1)

    # Bob finds the lobby in the public list, with Ann counted in it.
    bob = await open_page("bob")
    await bob.goto("/")
    listed = bob.locator(f"#lobby-list li[data-lobby-id='{lobby_id}']")
    await listed.locator(".lobby-count", has_text="1 of 8").wait_for()
    await listed.get_by_role("link", name="Friday game night").click()
    await bob.wait_for_url(f"**/lobby/{lobby_id}/")
    await join(bob, "Bob")
    await wait_in_room(bob, 2)
    await wait_in_room(ann, 2)

    await wait_audio_flowing([ann, bob], peers=1)
    await participant(ann, "Bob").and_(ann.locator("[data-peer-state=connected]")).wait_for()
    await participant(bob, "Ann").and_(bob.locator("[data-peer-state=connected]")).wait_for()

    # Chat, both ways.
    await ann.get_by_label("Message", exact=True).fill("Can you hear me?")
    await ann.get_by_label("Message", exact=True).press("Enter")
    await bob.locator("#chat-log li", has_text="Can you hear me?").locator(".chat-author", has_text="Ann").wait_for()
    await bob.get_by_label("Message", exact=True).fill("Loud and clear")
    await bob.get_by_role("button", name="Send").click()
    await ann.locator("#chat-log li", has_text="Loud and clear").wait_for()

    # Mute shows on the other side.
    await bob.get_by_role("button", name="Mute").click()
    assert await bob.locator("#mute-toggle").get_attribute("aria-pressed") == "true"
    await participant(ann, "Bob").and_(ann.locator("[data-muted=true]")).wait_for()
    await participant(ann, "Bob").locator(".badge-muted").wait_for(state="visible")

    # Leaving removes the peer on the other side.
    await bob.get_by_role("button", name="Leave").click()
    await bob.locator("#left-panel").wait_for(state="visible")
    await participant(ann, "Bob").wait_for(state="detached")

    async def ann_alone() -> bool:
        return await peer_stats(ann) == []

    await eventually(ann_alone, what="Ann's peer connection to Bob closed")


async def test_three_people_form_a_full_mesh(open_page: Any) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Weekly sync")
    await join(ann, "Ann")
    bob = await open_page("bob")
    await join(bob, "Bob", lobby_id=lobby_id)
    # The third joins on a phone-sized screen, from the share link pasted on the home page.
    share_link = await ann.get_by_label("Share link").input_value()
    cleo = await open_page("cleo", viewport={"width": 390, "height": 844})
    await cleo.goto("/")
    await cleo.get_by_label("Lobby link or code").fill(share_link)
    await cleo.get_by_label("Lobby link or code").press("Enter")
    await cleo.wait_for_url(f"**/lobby/{lobby_id}/")
    await join(cleo, "Cleo")
    for page in (ann, bob, cleo):
        await wait_in_room(page, 3)

    stats = await wait_audio_flowing([ann, bob, cleo], peers=2)
    for page, others in ((ann, ("Bob", "Cleo")), (bob, ("Ann", "Cleo")), (cleo, ("Ann", "Bob"))):
        for name in others:
            await participant(page, name).and_(page.locator("[data-peer-state=connected]")).wait_for()
    print("inbound audio packets per connection:", [[p["packets"] for p in s] for s in stats])

    # Nothing is wider than the phone's screen.
    assert await cleo.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await bob.get_by_label("Message", exact=True).fill("Sounds good, see you all at 5.")
    await bob.get_by_label("Message", exact=True).press("Enter")
    await cleo.get_by_role("button", name="Mute").click()
    await ann.locator("#chat-log li", has_text="see you all at 5").wait_for()
    await participant(ann, "Cleo").and_(ann.locator("[data-muted=true]")).wait_for()
    # The fake microphone beeps: the speaking indicator lights up for Bob.
    await participant(ann, "Bob").and_(ann.locator("[data-speaking=true]")).wait_for()
    await save_lobby_screenshot(ann)


async def save_lobby_screenshot(page: Any) -> None:
    """Keeps a screenshot of a lively room (the README's picture comes from test_screenshots.py)."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "screenshot-lobby.png"))


async def test_a_dropped_socket_reconnects_and_audio_flows_again(open_page: Any) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Flaky wifi")
    await join(ann, "Ann")
    bob = await open_page("bob")
    await join(bob, "Bob", lobby_id=lobby_id)
    await wait_in_room(ann, 2)
    await wait_in_room(bob, 2)
    await wait_audio_flowing([ann, bob], peers=1)
    first_bob_connection = await bob.evaluate("window.__voicebotTest.peerConnections.length")
    bob_id = await participant(ann, "Bob").get_attribute("data-session-id")
    await ann.get_by_label("Message", exact=True).fill("Before the blip")
    await ann.get_by_label("Message", exact=True).press("Enter")
    await bob.locator("#chat-log li", has_text="Before the blip").wait_for()

    # Bob's socket drops (as when the network blips): the server keeps his place.
    await bob.evaluate("window.__voicebotTest.sockets.at(-1).close()")
    await bob.locator("#connection-state[data-state=waiting]").wait_for()
    await bob.locator(".notice", has_text="connection to the server dropped").wait_for()

    # He comes back on his own, as the same participant, and media is negotiated afresh.
    await eventually(lambda: bob.evaluate("window.__voicebotTest.sockets.length === 2"), what="a second socket")
    await wait_in_room(bob, 2)
    await participant(ann, "Bob").and_(ann.locator("[data-status=connected]")).wait_for()
    assert await ann.locator("#participants > li").count() == 2
    await wait_audio_flowing([ann, bob], peers=1)
    assert await bob.evaluate("window.__voicebotTest.peerConnections.length") > first_bob_connection
    await bob.locator(".notice", has_text="connection to the server dropped").wait_for(state="detached")
    # The chat history came back with the resumed join, once.
    assert await bob.locator("#chat-log li", has_text="Before the blip").count() == 1

    # A reload resumes the same participant too (the tab keeps its session token).
    await bob.reload()
    await wait_in_room(bob, 2)
    assert await participant(ann, "Bob").get_attribute("data-session-id") == bob_id
    assert await ann.locator("#participants > li").count() == 2
    await wait_audio_flowing([ann, bob], peers=1)


async def test_a_server_restart_reconnects_everyone(open_page: Any, daphne_server: Any) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Restart party")
    await join(ann, "Ann")
    bob = await open_page("bob")
    await join(bob, "Bob", lobby_id=lobby_id)
    await wait_in_room(ann, 2)
    await wait_in_room(bob, 2)
    await wait_audio_flowing([ann, bob], peers=1)
    connections_before = [await page.evaluate("window.__voicebotTest.peerConnections.length") for page in (ann, bob)]

    await asyncio.to_thread(daphne_server.restart)

    for page in (ann, bob):
        await eventually(lambda page=page: page.evaluate("window.__voicebotTest.sockets.length >= 2"),
                         what="a new socket after the restart")
    await wait_in_room(ann, 2)
    await wait_in_room(bob, 2)
    await wait_audio_flowing([ann, bob], peers=1, deadline=30)
    connections_after = [await page.evaluate("window.__voicebotTest.peerConnections.length") for page in (ann, bob)]
    assert all(after > before for after, before in zip(connections_after, connections_before, strict=True))


RAW_ERROR_MARKERS = ('{"', '"code"', "in_reply_to", "correlation_id", "Traceback", "Exception")


async def assert_no_raw_errors(page: Any) -> None:
    text = await page.locator("body").inner_text()
    for marker in RAW_ERROR_MARKERS:
        assert marker not in text, f"the page shows {marker!r}:\n{text}"


async def test_wrong_password_and_missing_or_refused_microphone_get_plain_messages(
    open_page: Any, launch_browser: Any, daphne_server: Any
) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Members only", password="sesame", private=True)
    # The creator is not asked for the password she just chose, and the page says so.
    assert await ann.get_by_label("Lobby password").is_hidden()
    await ann.get_by_text("You created this lobby, so you are not asked for its password.").wait_for()
    await join(ann, "Ann")
    await wait_in_room(ann, 1)
    # Nor after a reload that left the lobby (the tab keeps its session).
    await ann.get_by_role("button", name="Leave").click()
    await ann.reload()
    assert await ann.get_by_label("Lobby password").is_hidden()
    await join(ann, "Ann")
    await wait_in_room(ann, 1)

    # Dan's browser has no microphone at all (no fake device).
    without_microphone = await launch_browser([a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"])
    dan = await open_page("dan", in_browser=without_microphone)
    await join(dan, "Dan", password="open sesame", lobby_id=lobby_id)
    error = dan.locator("#join-password-error")
    await error.wait_for(state="visible")
    assert await error.text_content() == "That lobby password is not right. Check it and try again."
    assert await dan.get_by_label("Lobby password").get_attribute("aria-invalid") == "true"
    # The refused join leaves the status saying so, not "Joining…".
    await dan.locator("#connection-state[data-state=idle]", has_text="Not joined yet").wait_for()
    assert await dan.locator("#join-button").is_enabled()
    await assert_no_raw_errors(dan)
    # A name of 33 characters is refused by the form, which says so; nothing is cut.
    await join(dan, "D" * 33, password="sesame")
    name_error = dan.locator("#join-name-error")
    await name_error.wait_for(state="visible")
    assert await name_error.text_content() == "A name is at most 32 characters; this is 1 too many."
    assert await dan.get_by_label("Your name").input_value() == "D" * 33
    assert (await dan.locator("#join-name-count").text_content()).strip() == "33 / 32 · 1 too many"

    await join(dan, "Dan", password="sesame")
    await wait_in_room(dan, 2)
    notice = dan.locator(".notice", has_text="No microphone was found")
    await notice.wait_for()
    assert await notice.get_attribute("role") == "status"
    # He listens all the same: Ann's audio reaches him.
    await wait_audio_flowing([dan], peers=1)
    await participant(ann, "Dan").and_(ann.locator("[data-peer-state=connected]")).wait_for()
    await assert_no_raw_errors(dan)

    # Eli has a microphone but refuses it: his browser asks before using one (no fake
    # prompt) and the site's permission is "denied".
    asking = await launch_browser([a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"])
    eli = await open_page("eli", microphone=False, in_browser=asking)
    cdp = await eli.context.new_cdp_session(eli)
    await cdp.send("Browser.setPermission", {
        "permission": {"name": "microphone"}, "setting": "denied", "origin": daphne_server.url,
    })
    await join(eli, "Eli", password="sesame", lobby_id=lobby_id)
    await wait_in_room(eli, 3)
    refused = eli.locator(".notice", has_text="Microphone access was refused")
    await refused.wait_for()
    await refused.get_by_role("button", name="Try the microphone again").wait_for()
    await assert_no_raw_errors(eli)


async def seat_socket(daphne_server: Any, lobby_id: str, name: str) -> tuple[Any, dict[str, Any]]:
    """A participant (or waiter) on a plain WebSocket: the socket and the first answer to its join."""
    from websockets.asyncio.client import connect

    session = await asyncio.to_thread(api_post, daphne_server.url, "/api/sessions", {})
    socket = await connect(f"ws://127.0.0.1:{daphne_server.port}/ws/lobby/{lobby_id}/?token={session['token']}")
    await socket.send(json.dumps({"type": "join", "name": name}))
    while (frame := json.loads(await asyncio.wait_for(socket.recv(), 10)))["type"] not in ("joined", "waiting_for_seat"):
        pass
    return socket, frame


async def next_frame(socket: Any, frame_type: str, deadline: float = 10) -> dict[str, Any]:
    while (frame := json.loads(await asyncio.wait_for(socket.recv(), deadline)))["type"] != frame_type:
        pass
    return frame


async def test_a_full_lobby_puts_people_in_line_and_seats_them_in_order(open_page: Any, daphne_server: Any) -> None:
    owner = await asyncio.to_thread(api_post, daphne_server.url, "/api/sessions", {"name": "Owner"})
    lobby = await asyncio.to_thread(
        api_post, daphne_server.url, "/api/lobbies", {"name": "Duo", "max_participants": 2}, owner["token"]
    )
    fay, _ = await seat_socket(daphne_server, lobby["id"], "Fay")
    gus, _ = await seat_socket(daphne_server, lobby["id"], "Gus")
    sockets = [fay, gus]
    try:
        eve = await open_page("eve")
        await join(eve, "Eve", lobby_id=lobby["id"])
        notice = eve.locator(".notice[data-code=lobby_full]")
        await notice.wait_for()
        assert (await notice.locator(".notice-text").text_content()) == (
            "This lobby is full. You are next in line: you join as soon as a seat is free."
        )
        await eve.locator("#connection-state", has_text="Waiting for a seat: next in line").wait_for()
        assert await eve.locator("#join-button").is_disabled()
        await assert_no_raw_errors(eve)
        # Zed comes after Eve: he is second in line, and a newcomer cannot pass either of them.
        zed, place = await seat_socket(daphne_server, lobby["id"], "Zed")
        sockets.append(zed)
        assert place == {"type": "waiting_for_seat", "position": 2}

        # Fay leaves: her seat goes to Eve, who is told at once (no 30 s poll) and joins by herself.
        await fay.send(json.dumps({"type": "leave"}))
        await wait_in_room(eve, 2, deadline=8)
        await notice.wait_for(state="detached")
        assert await next_frame(zed, "waiting_for_seat") == {"type": "waiting_for_seat", "position": 1}

        # Hal waits behind Zed, then stops waiting: he leaves the line and nobody else moves.
        hal = await open_page("hal")
        await join(hal, "Hal", lobby_id=lobby["id"])
        await hal.locator(".notice[data-code=lobby_full]", has_text="You are number 2 in line").wait_for()
        await hal.get_by_role("button", name="Stop waiting").click()
        await hal.locator(".notice[data-code=lobby_full]").wait_for(state="detached")
        assert await hal.locator("#join-button").is_enabled()
        assert await hal.locator("#room").is_hidden()
        await hal.locator("#connection-state", has_text="Not joined yet").wait_for()
        await gus.send(json.dumps({"type": "leave"}))
        assert await next_frame(zed, "seat_available") == {"type": "seat_available"}
    finally:
        for socket in sockets:
            await socket.close()


async def test_the_creator_removes_a_guest_locks_and_closes_the_lobby_from_the_page(open_page: Any) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Ann's room")
    await join(ann, "Ann")
    await wait_in_room(ann, 1)
    bob = await open_page("bob")
    await bob.goto(f"/lobby/{lobby_id}/")
    await join(bob, "Bob")
    await wait_in_room(ann, 2)
    # Only the creator has the controls.
    assert await bob.get_by_role("button", name="Lock lobby").count() == 0
    assert await bob.get_by_role("button", name="Remove Ann from the lobby").count() == 0

    # Locked: a newcomer is told so. (All pages here share one address, so the
    # lock comes before the kick: a kick bars the kicked one's address too.)
    await ann.get_by_role("button", name="Lock lobby").click()
    await ann.get_by_role("button", name="Unlock lobby").wait_for()
    cyd = await open_page("cyd")
    await cyd.goto(f"/lobby/{lobby_id}/")
    await cyd.get_by_label("Your name").fill("Cyd")
    await cyd.get_by_role("button", name="Join with microphone").click()
    await cyd.locator(".notice", has_text="locked").first.wait_for()
    await ann.get_by_role("button", name="Unlock lobby").click()
    await ann.get_by_role("button", name="Lock lobby").wait_for()

    ann.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await ann.get_by_role("button", name="Remove Bob from the lobby").click()
    await bob.locator(".notice", has_text="removed you").first.wait_for()
    await wait_in_room(ann, 1)

    await ann.get_by_role("button", name="Close lobby").click()
    await ann.locator(".notice", has_text="closed").first.wait_for()
