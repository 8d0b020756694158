"""Channels' in-memory layer contract, held by ``LocalChannelLayer``.

Channels' own ``tests/test_inmemorychannel.py`` is not shipped in its
distributions (neither the wheel nor the sdist on PyPI carries tests), so
its cases are written out here against the same layer API: sending and
receiving, capacity, process-local channels, ordering, groups, a full
channel in a group send, and expiry (a single message, one left unread, and
several). Each case runs against Channels' ``InMemoryChannelLayer`` too,
which shows the cases say what Channels' layer does; then the cases Channels
does not have: expiry is exact however many channels there are, and a group
membership past the group expiry receives nothing.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from signaling import layer_versions, layers
from signaling.layers import LocalChannelLayer

LAYERS = [InMemoryChannelLayer, LocalChannelLayer]
Factory = Callable[..., Any]


@pytest.fixture(params=LAYERS, ids=lambda cls: cls.__name__)
def layer_class(request: pytest.FixtureRequest) -> Factory:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def channel_layer(layer_class: Factory) -> AsyncIterator[Any]:
    layer = layer_class(capacity=3)
    yield layer
    await layer.flush()
    await layer.close()


async def nothing_for(layer: Any, channel: str, seconds: float) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), seconds)
    except asyncio.TimeoutError:
        return True
    return False


async def test_a_message_sent_to_a_channel_is_received(channel_layer: Any) -> None:
    await channel_layer.send("test-channel-1", {"type": "test.message", "text": "Ahoy-hoy!"})
    message = await channel_layer.receive("test-channel-1")
    assert message == {"type": "test.message", "text": "Ahoy-hoy!"}


async def test_a_send_past_the_capacity_is_channel_full(channel_layer: Any) -> None:
    for _ in range(3):
        await channel_layer.send("test-channel-1", {"type": "test.message"})
    with pytest.raises(ChannelFull):
        await channel_layer.send("test-channel-1", {"type": "test.message"})


async def test_a_process_local_channel_receives(channel_layer: Any) -> None:
    channel = await channel_layer.new_channel()
    await channel_layer.send(channel, {"type": "test.message", "text": "Local only please"})
    assert (await channel_layer.receive(channel))["text"] == "Local only please"


async def test_new_channels_are_process_local_valid_names_and_distinct(channel_layer: Any) -> None:
    names = {await channel_layer.new_channel() for _ in range(10_000)}
    assert len(names) == 10_000
    for name in names:
        channel_layer.require_valid_channel_name(name)  # raises TypeError for a name Channels refuses
        prefix, local = name.split("!")
        assert prefix == "specific..inmemory" and len(local) == 12  # Channels' own form


async def test_messages_are_received_in_the_order_sent(channel_layer: Any) -> None:
    for n in (1, 2, 3):
        await channel_layer.send("test-channel-3", {"type": f"message.{n}"})
    assert [(await channel_layer.receive("test-channel-3"))["type"] for _ in range(3)] == [
        "message.1", "message.2", "message.3"]


async def test_a_group_send_reaches_the_members_and_not_a_discarded_channel(channel_layer: Any) -> None:
    for n in (1, 2, 3):
        await channel_layer.group_add("test-group", f"test-gr-chan-{n}")
    await channel_layer.group_discard("test-group", "test-gr-chan-2")
    await channel_layer.group_send("test-group", {"type": "message.1"})
    async with asyncio.timeout(1):
        assert (await channel_layer.receive("test-gr-chan-1"))["type"] == "message.1"
        assert (await channel_layer.receive("test-gr-chan-3"))["type"] == "message.1"
    assert await nothing_for(channel_layer, "test-gr-chan-2", 0.3)


async def test_a_group_send_to_a_full_channel_is_not_an_error(channel_layer: Any) -> None:
    await channel_layer.group_add("test-group", "test-gr-chan-1")
    for _ in range(5):
        await channel_layer.group_send("test-group", {"type": "message.1"})
    assert [(await channel_layer.receive("test-gr-chan-1"))["type"] for _ in range(3)] == ["message.1"] * 3


async def test_an_expired_message_is_dropped_and_its_channel_cleaned_up(layer_class: Factory) -> None:
    layer = layer_class(expiry=0.1)
    await layer.send("test-channel-1", {"type": "message.1"})
    assert len(layer.channels) == 1
    await asyncio.sleep(0.1)
    assert await nothing_for(layer, "test-channel-1", 0.5)
    assert len(layer.channels) == 0


async def test_an_unread_expired_message_is_cleaned_up_by_a_receive_elsewhere(layer_class: Factory) -> None:
    layer = layer_class(expiry=0.1)
    await layer.send("test-channel-1", {"type": "message.1"})
    await asyncio.sleep(0.1)
    await layer.send("test-channel-2", {"type": "message.2"})
    assert len(layer.channels) == 2
    assert (await layer.receive("test-channel-2"))["type"] == "message.2"
    assert len(layer.channels) == 0


async def test_several_messages_expire_and_a_later_one_is_still_received(layer_class: Factory) -> None:
    layer = layer_class(expiry=0.1)
    for n in (1, 2, 3):
        await layer.send("test-channel-1", {"type": f"message.{n}"})
    assert (await layer.receive("test-channel-1"))["type"] == "message.1"
    await asyncio.sleep(0.1)
    await layer.send("test-channel-1", {"type": "message.4"})
    assert (await layer.receive("test-channel-1"))["type"] == "message.4"
    assert await nothing_for(layer, "test-channel-1", 0.5)
    assert len(layer.channels) == 0


async def test_a_channel_whose_message_expired_leaves_its_groups(layer_class: Factory) -> None:
    layer = layer_class(expiry=0.1)
    await layer.group_add("lobby.x", "dead-channel")
    await layer.send("dead-channel", {"type": "message.1"})
    await asyncio.sleep(0.1)
    await layer.group_send("lobby.x", {"type": "message.2"})
    assert "dead-channel" not in layer.groups.get("lobby.x", {})


# --- Beyond Channels' cases ------------------------------------------------------


async def test_expiry_is_exact_to_the_message_even_with_many_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never a message past its expiry, and unexpired messages in other channels are all kept."""
    clock = [1000.0]
    monkeypatch.setattr(layers.time, "time", lambda: clock[0])
    layer = LocalChannelLayer(expiry=60, capacity=10)
    for n in range(2000):
        await layer.send(f"idle-{n}", {"type": "old"})
    clock[0] += 30
    await layer.send("busy", {"type": "fresh"})
    clock[0] += 30.001  # the first 2,000 are just past their minute; "fresh" has 29.999 s left
    assert await layer.receive("busy") == {"type": "fresh"}
    assert layer.channels == {}
    await layer.send("busy", {"type": "late"})
    clock[0] += 60.001
    assert await nothing_for(layer, "busy", 0.05)


async def test_a_membership_past_the_group_expiry_receives_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(layers.time, "time", lambda: clock[0])
    monkeypatch.setattr("channels.layers.time.time", lambda: clock[0])
    layer = LocalChannelLayer(expiry=60, group_expiry=100)
    await layer.group_add("lobby.x", "old-member")
    clock[0] += 50
    await layer.group_add("lobby.x", "new-member")
    clock[0] += 51
    await layer.group_send("lobby.x", {"type": "hello"})
    assert await layer.receive("new-member") == {"type": "hello"}
    assert await nothing_for(layer, "old-member", 0.05)
    assert "old-member" not in layer.groups["lobby.x"]


def test_the_versions_the_layers_were_tested_with_are_the_ones_pinned() -> None:
    pinned = dict(
        line.strip().split("==") for line in (settings.BASE_DIR / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert {package: pinned[package] for package in layer_versions.TESTED_WITH} == layer_versions.TESTED_WITH


def test_another_channels_version_is_refused_at_start_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layer_versions, "version", lambda package: "9.9.9" if package == "channels-redis" else "4.3.2")
    with pytest.raises(ImproperlyConfigured) as refused:
        apps.get_app_config("signaling").ready()
    assert str(refused.value) == (
        "channels-redis 9.9.9 is installed, but VoiceBot's channel layers were tested with 4.3.0: "
        "install channels-redis==4.3.0 (requirements.txt)."
    )
