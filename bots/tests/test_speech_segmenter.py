"""Utterances out of a participant's audio: started / ended events, pieces bounded, noise ignored."""
from __future__ import annotations

import numpy as np
import pytest

from bots.speech.audio import SPEECH_RATE
from bots.speech.exceptions import SpeechInputError
from bots.speech.segmenter import SpeechStarted, UtteranceEnded, UtteranceSegmenter
from bots.speech.vad import SileroVAD

from .conftest import WITHOUT_SPEECH, silence


def segmenter(**options: float) -> UtteranceSegmenter:
    return UtteranceSegmenter(SileroVAD(), **options)


def feed_in_frames(seg: UtteranceSegmenter, samples: np.ndarray, frame: int = 320) -> list:
    """As a bot feeds it: 20 ms at a time (320 samples at 16 kHz)."""
    events = []
    for start in range(0, samples.size, frame):
        events += seg.feed(samples[start:start + frame])
    return events


def test_two_sentences_with_a_pause_are_two_utterances(speech16k: dict[str, np.ndarray]) -> None:
    first, second = speech16k["fox"], speech16k["umbrella"]
    audio = np.concatenate([silence(1), first, silence(1.2), second, silence(1)])

    events = feed_in_frames(segmenter(), audio)

    assert [type(event) for event in events] == [SpeechStarted, UtteranceEnded, SpeechStarted, UtteranceEnded]
    started, ended = events[0], events[1]
    # Speech is dated by the start of the detector's window it was heard in: up to one
    # window (32 ms) before the sentence's first sample (seen: 4.960 s for one at 4.963 s).
    window = SileroVAD().window_samples / SPEECH_RATE
    assert 1.0 - window <= started.at < 1.0 + 0.3
    assert ended.started_at == started.at and ended.final
    assert abs(ended.ended_at - (1 + first.size / SPEECH_RATE)) < 0.3
    second_start = 1 + (first.size / SPEECH_RATE) + 1.2
    assert second_start - window <= events[2].at < second_start + 0.3
    # Each utterance holds its speech with the lead-in before it and the silence that ended it.
    assert ended.pcm16k.dtype == np.int16
    assert ended.duration == pytest.approx(ended.ended_at - ended.started_at + 0.3 + 0.5, abs=0.15)


def test_a_sixty_second_monologue_is_cut_into_bounded_pieces(speech16k: dict[str, np.ndarray]) -> None:
    sentences = [speech16k["fox"], speech16k["umbrella"], speech16k["meeting"]]
    talk = np.concatenate([np.concatenate([sentence, silence(0.15)]) for sentence in sentences])
    monologue = np.concatenate([silence(0.5), np.tile(talk, int(np.ceil(60 * SPEECH_RATE / talk.size))), silence(1)])

    events = segmenter(max_utterance=10).feed(monologue)

    assert isinstance(events[0], SpeechStarted)
    assert sum(isinstance(event, SpeechStarted) for event in events) == 1
    pieces = [event for event in events if isinstance(event, UtteranceEnded)]
    assert len(pieces) >= 6
    assert all(piece.duration <= 10.05 for piece in pieces)
    assert [piece.final for piece in pieces] == [False] * (len(pieces) - 1) + [True]
    # The pieces follow each other without a gap, from the speech's start to its end.
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert after.started_at == pytest.approx(before.ended_at, abs=0.001)
    assert pieces[-1].ended_at == pytest.approx(monologue.size / SPEECH_RATE - 1, abs=0.5)


@WITHOUT_SPEECH
def test_silence_and_noise_make_no_utterance(make) -> None:  # noqa: ANN001
    seg = segmenter()

    assert feed_in_frames(seg, make(np.random.default_rng(4)), frame=1000) == []
    assert seg.flush() == []


def test_a_click_of_speech_shorter_than_the_minimum_is_ignored(speech16k: dict[str, np.ndarray]) -> None:
    word = speech16k["fox"]
    loud = int(np.argmax(np.abs(word)))
    click = word[max(0, loud - 800):loud + 800]  # 0.1 s of it

    events = segmenter().feed(np.concatenate([silence(1), click, silence(1), click, silence(1)]))

    assert events == []


def test_chunk_sizes_do_not_change_the_events(speech16k: dict[str, np.ndarray]) -> None:
    audio = np.concatenate([silence(0.5), speech16k["meeting"], silence(1)])

    whole = segmenter().feed(audio)
    odd = feed_in_frames(segmenter(), audio, frame=333)

    assert [type(event) for event in whole] == [type(event) for event in odd] == [SpeechStarted, UtteranceEnded]
    assert whole[1].started_at == odd[1].started_at and whole[1].ended_at == odd[1].ended_at
    assert np.array_equal(whole[1].pcm16k, odd[1].pcm16k)


def test_flush_ends_the_speech_in_progress(speech16k: dict[str, np.ndarray]) -> None:
    seg = segmenter()
    events = seg.feed(np.concatenate([silence(0.5), speech16k["fox"][:24_000]]))
    assert [type(event) for event in events] == [SpeechStarted]
    assert seg.speaking

    ended = seg.flush()

    assert len(ended) == 1 and ended[0].final and ended[0].duration > 1.0
    assert not seg.speaking and seg.flush() == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros(100, dtype=np.float64), "int16"),
        (np.zeros((100, 2), dtype=np.int16), "mono"),
        ("audio", "numpy array"),
    ],
)
def test_bad_input_is_a_typed_error_and_the_segmenter_goes_on(bad: object, message: str,
                                                              speech16k: dict[str, np.ndarray]) -> None:
    seg = segmenter()
    with pytest.raises(SpeechInputError, match=message):
        seg.feed(bad)  # type: ignore[arg-type]

    assert seg.feed(np.zeros(0, dtype=np.int16)) == []
    events = seg.feed(np.concatenate([silence(0.5), speech16k["fox"], silence(1)]))
    assert [type(event) for event in events] == [SpeechStarted, UtteranceEnded]


@pytest.mark.parametrize(
    "options",
    [{"threshold": 0.0}, {"threshold": 1.5}, {"silence": -1.0}, {"max_utterance": 0.5}],
)
def test_impossible_timings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(SpeechInputError):
        segmenter(**options)
