"""The bots' outgoing audio: bounded queues, per-peer and shared audio, one frame per 20 ms slot."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bots.kinds.base import FRAME_SAMPLES
from bots.runtime.audio import MAX_QUEUED_SECONDS, AudioMixer, PcmQueue, frames_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tone(value: int, samples: int = FRAME_SAMPLES) -> np.ndarray:
    return np.full(samples, value, dtype=np.int16)


def test_pcm_is_cut_into_frames_and_the_last_one_padded() -> None:
    frames = frames_of(tone(3, 2000))
    assert [len(f) for f in frames] == [FRAME_SAMPLES] * 3
    assert frames[2][: 2000 - 2 * FRAME_SAMPLES].tolist() == [3] * (2000 - 2 * FRAME_SAMPLES)
    assert not frames[2][2000 - 2 * FRAME_SAMPLES:].any()
    assert frames_of(np.zeros(0, dtype=np.int16)) == []


def test_a_queue_plays_nothing_before_its_time_and_drops_the_oldest_past_its_bound() -> None:
    queue = PcmQueue(max_seconds=0.1)
    queue.push(tone(1, FRAME_SAMPLES * 8), due=10.0)
    assert len(queue.frames) == 5 and queue.dropped == 3
    # The newest are kept: the first left is the one due at 10.06.
    assert queue.pop(10.05) is None
    assert queue.pop(10.06) is not None
    assert queue.seconds == pytest.approx(0.08)


def test_each_peer_gets_its_own_audio_mixed_with_the_shared_audio() -> None:
    clock = Clock()
    mixer = AudioMixer(clock=clock)
    mixer.track_for("ann")
    mixer.track_for("bob")
    mixer.play("ann", tone(1000))
    mixer.play_all(tone(30000, FRAME_SAMPLES * 2))
    mixer.play("nobody", tone(5))  # no connection: dropped
    slot = mixer.current_slot()
    ann, bob = mixer.frame_for("ann", slot), mixer.frame_for("bob", slot)
    assert ann[0] == 31000 and bob[0] == 30000  # the same shared frame for both in one slot
    clock.now += 0.02
    mixer.play("ann", tone(10000))
    # Clipped, never wrapped round.
    assert mixer.frame_for("ann", slot + 1)[0] == 32767
    assert mixer.frame_for("bob", slot + 1)[0] == 30000
    clock.now += 0.02
    assert not mixer.frame_for("bob", slot + 2).any()
    assert mixer.queued() == 0 and mixer.queued("ann") == 0 and mixer.queued("nobody") == 0


def test_delayed_audio_waits_and_clear_drops_what_is_queued() -> None:
    clock = Clock()
    mixer = AudioMixer(clock=clock)
    mixer.track_for("ann")
    mixer.play("ann", tone(7), delay=0.3)
    assert not mixer.frame_for("ann", 0).any()
    clock.now += 0.3
    assert mixer.frame_for("ann", 1)[0] == 7
    mixer.play("ann", tone(7, FRAME_SAMPLES * 50))
    mixer.play_all(tone(7, FRAME_SAMPLES * 50))
    assert mixer.queued("ann") == pytest.approx(1.0) and mixer.queued() == pytest.approx(1.0)
    mixer.clear("ann")
    assert mixer.queued("ann") == 0 and mixer.queued() == pytest.approx(1.0)
    mixer.clear()
    assert mixer.queued() == 0


def test_a_behaviour_that_produces_too_fast_is_bounded() -> None:
    mixer = AudioMixer()
    mixer.track_for("ann")
    for _ in range(100):
        mixer.play_all(tone(1, FRAME_SAMPLES * 100))  # 2 s each, 200 s in all
        mixer.play("ann", tone(1, FRAME_SAMPLES * 100))
    assert mixer.queued() <= MAX_QUEUED_SECONDS and mixer.queued("ann") <= MAX_QUEUED_SECONDS


async def test_a_track_sends_20_ms_frames_in_real_time_and_stops_with_its_peer() -> None:
    from aiortc.mediastreams import MediaStreamError

    mixer = AudioMixer()
    track = mixer.track_for("ann")
    mixer.play("ann", tone(9, FRAME_SAMPLES * 3))
    loop = asyncio.get_running_loop()
    started = loop.time()
    frames = [await track.recv() for _ in range(6)]
    assert loop.time() - started == pytest.approx(0.1, abs=0.04)
    assert [f.pts for f in frames] == [n * FRAME_SAMPLES for n in range(6)]
    assert [int(f.to_ndarray()[0, 0]) for f in frames] == [9, 9, 9, 0, 0, 0]
    assert (frames[0].sample_rate, frames[0].layout.name, frames[0].format.name) == (48000, "mono", "s16")
    assert mixer.frames_sent == 6 and mixer.frames_late == 0
    mixer.track_closed("ann")
    with pytest.raises(MediaStreamError):
        await track.recv()


def test_shared_audio_pauses_resumes_where_it_stopped_and_counts_what_went_out() -> None:
    clock = Clock()
    mixer = AudioMixer(clock=clock)
    mixer.track_for("ann")
    mixer.track_for("bob")
    out: list[tuple[int, float]] = []
    mixer.shared_listener = lambda pcm, at: out.append((int(pcm[0]), at))
    mixer.play_all(np.concatenate([tone(1), tone(2), tone(3)]))
    assert mixer.shared_queued_position == pytest.approx(0.06)
    slot = mixer.current_slot()
    assert mixer.frame_for("ann", slot)[0] == 1
    assert mixer.frame_for("bob", slot)[0] == 1  # the same slot: the same frame, counted once
    assert mixer.shared_position == pytest.approx(0.02)
    mixer.pause()
    clock.now += 0.04
    assert not mixer.frame_for("ann", slot + 1).any() and not mixer.frame_for("ann", slot + 2).any()
    assert mixer.shared_position == pytest.approx(0.02) and mixer.queued() == pytest.approx(0.04)
    mixer.resume()
    clock.now += 0.02
    assert mixer.frame_for("ann", slot + 3)[0] == 2
    assert mixer.frame_for("ann", slot + 4)[0] == 3
    assert mixer.shared_position == pytest.approx(0.06)
    assert [value for value, _ in out] == [1, 2, 3]
    # Clearing drops what waits and ends a pause; a failing listener never stops the audio.
    mixer.play_all(tone(4))
    mixer.pause()
    mixer.clear()
    assert mixer.queued() == 0 and not mixer.shared_paused

    def broken(pcm: np.ndarray, at: float) -> None:
        raise RuntimeError("listener bug")

    mixer.shared_listener = broken
    mixer.play_all(tone(5))
    assert mixer.frame_for("ann", slot + 5)[0] == 5
