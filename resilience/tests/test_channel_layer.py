"""The guarded channel layer: every way a trial call can end settles the breaker."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from channels.exceptions import ChannelFull

from errors.exceptions import ChannelLayerUnavailableError
from resilience.channel_layer import GuardedChannelLayer, layer_dependency
from resilience.registry import dependencies_reset
from signaling.layers import LocalChannelLayer


@pytest.fixture
def guarded(settings: Any) -> Iterator[GuardedChannelLayer]:
    settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD = 2
    settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT = 0.0  # the next call after an opening is the trial
    dependencies_reset()
    yield GuardedChannelLayer(LocalChannelLayer(capacity=2))
    dependencies_reset()


def outage(layer: GuardedChannelLayer) -> None:
    breaker = layer.dependency.breaker
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(ConnectionError("redis down"))
    assert breaker.state == "half_open"


async def test_a_trial_send_to_a_full_channel_closes_the_breaker(guarded: GuardedChannelLayer) -> None:
    for n in range(2):
        await guarded.send("full", {"type": "x", "n": n})
    outage(guarded)
    with pytest.raises(ChannelLayerUnavailableError) as refused:
        await guarded.send("full", {"type": "x", "n": 2})
    assert isinstance(refused.value.__cause__, ChannelFull)
    # The layer answered: every later send goes through.
    assert guarded.dependency.state == "closed"
    for n in range(5):
        await guarded.send(f"other-{n}", {"type": "x"})


async def test_a_cancelled_trial_send_lets_the_next_send_be_the_trial(guarded: GuardedChannelLayer, monkeypatch) -> None:
    outage(guarded)
    started = asyncio.Event()

    async def stuck_send(channel: str, message: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(guarded.layer, "send", stuck_send)
    task = asyncio.ensure_future(guarded.send("peer", {"type": "x"}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    await guarded.send("peer", {"type": "x"})
    assert guarded.dependency.state == "closed"


async def test_a_trial_that_raises_something_else_is_settled(guarded: GuardedChannelLayer, monkeypatch) -> None:
    outage(guarded)

    async def broken_send(channel: str, message: dict[str, Any]) -> None:
        raise TypeError("cannot serialise that")

    monkeypatch.setattr(guarded.layer, "send", broken_send)
    with pytest.raises(TypeError):
        await guarded.send("peer", {"type": "x"})
    monkeypatch.undo()
    await guarded.send("peer", {"type": "x"})
    assert guarded.dependency.state == "closed"


async def test_a_failed_trial_opens_the_breaker_and_a_later_trial_can_close_it(
    guarded: GuardedChannelLayer, monkeypatch
) -> None:
    outage(guarded)

    async def down(channel: str, message: dict[str, Any]) -> None:
        raise ConnectionError("still down")

    monkeypatch.setattr(guarded.layer, "send", down)
    with pytest.raises(ChannelLayerUnavailableError):
        await guarded.send("peer", {"type": "x"})
    assert guarded.dependency.breaker.opened_total >= 2
    monkeypatch.undo()
    await guarded.send("peer", {"type": "x"})
    assert guarded.dependency.state == "closed"


async def test_group_changes_are_retried_and_memberships_come_back_after_a_failure(
    guarded: GuardedChannelLayer, monkeypatch
) -> None:
    await guarded.group_add("lobby.a", "chan-1")
    calls = {"n": 0}
    real_add = guarded.layer.group_add

    async def flaky_add(group: str, channel: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("blip")
        await real_add(group, channel)

    monkeypatch.setattr(guarded.layer, "group_add", flaky_add)
    guarded.layer.groups.clear()  # Redis came back empty
    await guarded.group_add("lobby.b", "chan-2")
    # The failure made the next attempt put back every membership first.
    assert set(guarded.layer.groups) == {"lobby.a", "lobby.b"}
    assert layer_dependency().state == "closed"
