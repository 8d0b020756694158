"""Real Chromium pages talking to each other through a real daphne.

Each test drives the pages through the UI, as people would, and checks the
media with getStats(): every pair of peer connections reaches "connected"
and receives audio (Chromium's fake microphone) both ways.
"""
from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from web.tests.conftest import ARTIFACTS
from web.tests.lobby_pages import (
    create_lobby,
    eventually,
    join,
    participant,
    peer_stats,
    wait_audio_flowing,
    wait_in_room,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def test_two_people_talk_chat_see_mute_and_leave(open_page: Any) -> None:
    ann = await open_page("ann")
    lobby_id = await create_lobby(ann, "Friday game night")
    await join(ann, "Ann")
    await wait_in_room(ann, 1)

    bob = await open_page("bob")
    await join(bob, "Bob", lobby_id=lobby_id)
    await wait_in_room(bob, 2)
    await wait_in_room(ann, 2)

    await wait_audio_flowing([ann, bob], peers=1)
    await participant(ann, "Bob").and_(ann.locator("[data-peer-state=connected]")).wait_for()
    await participant(bob, "Ann").and_(bob.locator("[data-peer-state=connected]")).wait_for()

    # Chat, both ways.
    await ann.get_by_label("Message").fill("Can you hear me?")
    await ann.get_by_label("Message").press("Enter")
    await bob.locator("#chat-log li", has_text="Can you hear me?").locator(".chat-author", has_text="Ann").wait_for()
    await bob.get_by_label("Message").fill("Loud and clear")
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
