"""A bot's state: starting from each join until its peer connections are up, or the start timeout."""
from __future__ import annotations

import asyncio
from typing import Any

from bots.runtime.state import BotStateKeeper

ANN = {"session_id": "a", "status": "connected"}
BOB = {"session_id": "b", "status": "reconnecting"}


async def test_starting_until_every_connected_participant_is_linked_and_up(settings: Any) -> None:
    settings.VOICEBOT_BOT_START_TIMEOUT = 30
    keeper = BotStateKeeper(on_timeout=lambda: None)
    keeper.joined()
    assert keeper.refresh([], {}, [ANN, BOB]) == "starting"
    assert keeper.refresh(["connecting"], {"a": 1}, [ANN, BOB]) is None  # said already
    # Bob is reconnecting: only Ann's connection counts.
    assert keeper.refresh(["connected"], {"a": 1}, [ANN, BOB]) == "listening"
    keeper.wanted = "speaking"
    assert keeper.refresh(["connected"], {"a": 1}, [ANN]) == "speaking"
    # A later join starts again, and says so even when the state had been said before.
    keeper.joined()
    assert keeper.refresh([], {}, [ANN]) == "starting"
    keeper.stop()


async def test_a_peer_that_never_connects_holds_starting_no_longer_than_the_timeout(settings: Any) -> None:
    settings.VOICEBOT_BOT_START_TIMEOUT = 0.05
    timed_out = asyncio.Event()
    keeper = BotStateKeeper(on_timeout=timed_out.set)
    keeper.joined()
    assert keeper.refresh(["new"], {"a": 1}, [ANN]) == "starting"
    await asyncio.wait_for(timed_out.wait(), 2)
    assert keeper.refresh(["new"], {"a": 1}, [ANN]) == "listening"
