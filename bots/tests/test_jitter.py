"""A bot's receivers release each audio packet once the next is in, not after four more (bots/runtime/jitter.py)."""
from __future__ import annotations

import logging

import pytest
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from bots.runtime import jitter
from bots.runtime.jitter import listen_sooner

ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"


def packet(sequence: int) -> RtpPacket:
    pkt = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=960 * sequence)
    pkt._data = bytes([sequence])  # what the buffer hands on: the payload
    return pkt


def released(buffer: JitterBuffer, sequences: list[int]) -> list[tuple[int, int | None]]:
    """(sequence added, first payload byte released by that add, or None) for each packet."""
    out = []
    for sequence in sequences:
        _, frame = buffer.add(packet(sequence))
        out.append((sequence, None if frame is None else frame.data[0]))
    return out


@pytest.fixture
async def audio_receiver():
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio")
    yield transceiver.receiver
    await pc.close()


async def test_aiortcs_own_buffer_holds_a_packet_until_four_more_are_in(audio_receiver) -> None:
    # What the bot would hear without listen_sooner: packet 0 only when packet 4 arrives (80 ms).
    buffer = getattr(audio_receiver, ATTRIBUTE)
    assert released(buffer, [0, 1, 2, 3, 4]) == [(0, None), (1, None), (2, None), (3, None), (4, 0)]


async def test_a_bots_receiver_releases_each_packet_when_the_next_arrives(audio_receiver) -> None:
    assert listen_sooner(audio_receiver) is True
    buffer = getattr(audio_receiver, ATTRIBUTE)
    assert released(buffer, [0, 1, 2]) == [(0, None), (1, 0), (2, 1)]


async def test_packets_out_of_order_by_one_are_put_back_in_order(audio_receiver) -> None:
    listen_sooner(audio_receiver)
    buffer = getattr(audio_receiver, ATTRIBUTE)
    # 2 before 1: nothing is released until 1 is in, then 0 and (on the next add) 1, never 2 before 1.
    assert released(buffer, [0, 2, 1, 3]) == [(0, None), (2, None), (1, 0), (3, 1)]


async def test_a_receiver_already_receiving_keeps_its_buffer(audio_receiver) -> None:
    buffer = getattr(audio_receiver, ATTRIBUTE)
    buffer.add(packet(7))
    assert listen_sooner(audio_receiver) is False
    assert getattr(audio_receiver, ATTRIBUTE) is buffer


async def test_a_video_receiver_keeps_its_buffer() -> None:
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("video").receiver
    buffer = getattr(receiver, ATTRIBUTE)
    assert listen_sooner(receiver) is False and getattr(receiver, ATTRIBUTE) is buffer
    await pc.close()


def test_an_aiortc_without_the_buffer_leaves_the_receiver_alone_and_warns_once(caplog, monkeypatch) -> None:
    monkeypatch.setattr(jitter, "_warned", False)

    class Receiver:  # what a renamed attribute looks like from here
        pass

    with caplog.at_level(logging.WARNING, logger="voicebot.bots"):
        assert listen_sooner(Receiver()) is False
        assert listen_sooner(Receiver()) is False
    assert [r.getMessage() for r in caplog.records].count(
        "aiortc's receiver has no jitter buffer where 1.16 keeps it: bots hear 60 ms later") == 1
