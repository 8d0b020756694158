"""WebRTC frames to 16 kHz mono and speech back to 20 ms 48 kHz frames."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from bots.speech.audio import (
    FRAME_SAMPLES,
    SPEECH_RATE,
    WEBRTC_RATE,
    FramePacker,
    PcmResampler,
    Resampler16kMono,
    frames_48k,
)
from bots.speech.exceptions import SpeechInputError


def tone(frequency: float, seconds: float, rate: int, amplitude: int = 10_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def webrtc_frames(samples: np.ndarray) -> list[av.AudioFrame]:
    """``samples`` (48 kHz mono) as aiortc hands them over: 20 ms frames of packed stereo s16."""
    frames = []
    for index, start in enumerate(range(0, samples.size, FRAME_SAMPLES)):
        piece = samples[start:start + FRAME_SAMPLES]
        stereo = np.repeat(piece, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = WEBRTC_RATE
        frame.pts = index * FRAME_SAMPLES
        frame.time_base = Fraction(1, WEBRTC_RATE)
        frames.append(frame)
    return frames


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


def test_webrtc_stereo_frames_become_16k_mono_with_the_same_sound() -> None:
    resampler = Resampler16kMono()
    source = tone(440, 1.0, WEBRTC_RATE)

    out = np.concatenate([resampler.convert(frame) for frame in webrtc_frames(source)] + [resampler.flush()])

    assert out.dtype == np.int16 and out.ndim == 1
    assert abs(out.size - SPEECH_RATE) <= 32
    assert abs(peak_frequency(out, SPEECH_RATE) - 440) < 3
    assert 9_000 < np.abs(out[1000:-1000]).max() < 11_000


def test_a_track_that_changes_rate_midway_gets_a_fresh_resampler() -> None:
    resampler = Resampler16kMono()
    first = resampler.convert(webrtc_frames(tone(440, 0.1, WEBRTC_RATE))[0])
    odd = av.AudioFrame.from_ndarray(tone(440, 0.1, 44_100).reshape(1, -1), format="s16", layout="mono")
    odd.sample_rate = 44_100

    second = resampler.convert(odd)

    assert first.size > 0 and abs(second.size - 1600) <= 64


@pytest.mark.parametrize("bad", [None, b"\x00" * 1920, np.zeros(960, dtype=np.int16)])
def test_the_converter_refuses_what_is_not_an_audio_frame(bad: object) -> None:
    with pytest.raises(SpeechInputError, match="av.AudioFrame"):
        Resampler16kMono().convert(bad)  # type: ignore[arg-type]


def test_speech_at_22k_becomes_consecutive_20ms_48k_frames() -> None:
    frames = list(frames_48k(tone(300, 1.0, 22_050), 22_050))

    assert len(frames) == 50
    assert all(frame.samples == FRAME_SAMPLES for frame in frames)
    assert {(frame.sample_rate, frame.format.name, frame.layout.name) for frame in frames} == {(48_000, "s16", "mono")}
    assert [frame.pts for frame in frames] == [index * FRAME_SAMPLES for index in range(50)]
    assert frames[0].time_base == Fraction(1, 48_000)
    joined = np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames])
    assert abs(peak_frequency(joined, WEBRTC_RATE) - 300) < 3


def test_the_packer_streams_chunks_and_pads_only_the_last_frame() -> None:
    packer = FramePacker(22_050)
    source = tone(300, 0.51, 22_050)
    frames = []
    for start in range(0, source.size, 1000):  # chunks that are not whole frames
        frames += packer.push(source[start:start + 1000])
    frames += packer.flush()

    assert all(frame.samples == FRAME_SAMPLES for frame in frames)
    assert len(frames) == 26  # 0.51 s is 25.5 frames
    assert not frames[-1].to_ndarray()[0, -100:].any()  # the padding is silence
    assert [frame.pts for frame in frames] == [index * FRAME_SAMPLES for index in range(26)]


def test_empty_audio_gives_no_frames() -> None:
    assert list(frames_48k(np.zeros(0, dtype=np.int16), 22_050)) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros(100, dtype=np.float32), "int16"),
        (np.zeros((2, 100), dtype=np.int16), "mono"),
        ([0, 1, 2], "numpy array"),
    ],
)
def test_the_output_path_refuses_audio_of_the_wrong_kind(bad: object, message: str) -> None:
    with pytest.raises(SpeechInputError, match=message):
        FramePacker(22_050).push(bad)  # type: ignore[arg-type]
    with pytest.raises(SpeechInputError, match=message):
        PcmResampler(22_050, 48_000).push(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -1, 22_050.5, "48000"])
def test_a_packer_needs_a_real_rate(rate: object) -> None:
    with pytest.raises(SpeechInputError, match="sample rate"):
        FramePacker(rate)  # type: ignore[arg-type]


def test_clipped_full_scale_noise_passes_through_without_overflow() -> None:
    noise = np.random.default_rng(1).choice(np.array([-32768, 32767], dtype=np.int16), size=22_050)

    frames = list(frames_48k(noise, 22_050))

    assert len(frames) == 50
    assert all(frame.to_ndarray().dtype == np.int16 for frame in frames)


def test_resampling_a_stream_keeps_its_length() -> None:
    resampler = PcmResampler(22_050, 48_000)
    source = tone(300, 1.0, 22_050)

    out = np.concatenate([resampler.push(source[:10_000]), resampler.push(source[10_000:]), resampler.flush()])

    assert abs(out.size - 48_000) <= 64
