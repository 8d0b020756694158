"""The bot's own voice coming back through a participant's microphone, told from a person talking over it.

The bot's voice and the person's are real speech (Piper, the bundled voice);
the echo is the bot's audio as a room and a microphone return it: quieter,
late by a round trip, with noise.
"""
from __future__ import annotations

import numpy as np
import pytest

from bots.assistant.turns.echo import EchoDetector, transcript_is_echo

RATE = 16_000


def room(pcm: np.ndarray, *, gain: float, delay: float, noise: float = 200.0, seed: int = 1) -> np.ndarray:
    """``pcm`` as it comes back: scaled, ``delay`` seconds late, with noise."""
    rng = np.random.default_rng(seed)
    late = np.concatenate([np.zeros(int(delay * RATE)), pcm.astype(np.float64) * gain])
    return np.clip(late + rng.normal(0, noise, late.size), -32768, 32767).astype(np.int16)


def fit(pcm: np.ndarray, size: int) -> np.ndarray:
    return np.pad(pcm, (0, max(0, size - pcm.size)))[:size]


@pytest.fixture
def bot_speaking(speech16k: dict[str, np.ndarray]) -> tuple[EchoDetector, np.ndarray]:
    """A detector that saw the bot say the "fox" sentence to this participant from t=10 s."""
    detector = EchoDetector()
    bot = speech16k["fox"]
    detector.played(bot, at=10.0, rate=RATE)
    return detector, bot


@pytest.mark.parametrize(("gain", "delay"), [(0.3, 0.12), (0.08, 0.35), (0.9, 0.0)])
def test_the_bots_voice_coming_back_is_echo(bot_speaking, gain: float, delay: float) -> None:  # noqa: ANN001
    detector, bot = bot_speaking
    detector.heard(room(bot, gain=gain, delay=delay), at=10.0, rate=RATE)

    assert detector.score(10.0, 10.0 + bot.size / RATE) >= 0.8
    assert detector.is_echo(10.5, 11.5), "a second of it is enough"


def test_a_person_talking_over_the_bot_is_not_echo(bot_speaking, speech16k) -> None:  # noqa: ANN001
    detector, bot = bot_speaking
    person = fit(speech16k["umbrella"], bot.size)
    detector.heard(room(person, gain=1.0, delay=0.0, seed=2), at=10.3, rate=RATE)

    assert detector.score(10.3, 10.3 + person.size / RATE) < 0.5
    assert not detector.is_echo(10.5, 11.5)


def test_a_person_talking_with_the_echo_in_the_background_is_not_echo(bot_speaking, speech16k) -> None:  # noqa: ANN001
    detector, bot = bot_speaking
    person = fit(speech16k["meeting"], bot.size + 4000).astype(np.float64)
    echo = fit(room(bot, gain=0.1, delay=0.15), person.size).astype(np.float64)
    detector.heard(np.clip(person + echo, -32768, 32767).astype(np.int16), at=10.0, rate=RATE)

    assert not detector.is_echo(10.3, 11.8)


def test_without_the_bot_playing_or_enough_audio_there_is_no_echo(speech16k) -> None:  # noqa: ANN001
    detector = EchoDetector()
    detector.heard(speech16k["fox"], at=0.0, rate=RATE)
    assert detector.score(0.0, 2.0) == 0.0, "the bot played nothing"

    detector.played(speech16k["fox"], at=0.0, rate=RATE)
    assert detector.score(0.0, 0.1) == 0.0, "a tenth of a second decides nothing"
    assert detector.score(50.0, 51.0) == 0.0, "nothing heard then"


def test_silence_is_not_echo() -> None:
    detector = EchoDetector()
    detector.played(np.zeros(RATE * 2, dtype=np.int16), at=0.0, rate=RATE)
    detector.heard(np.zeros(RATE * 2, dtype=np.int16), at=0.0, rate=RATE)

    assert not detector.is_echo(0.0, 2.0)


def test_audio_at_48_khz_in_20_ms_frames_is_measured_the_same(bot_speaking, speech16k) -> None:  # noqa: ANN001
    detector = EchoDetector()
    bot = np.repeat(speech16k["fox"], 3)  # 48 kHz, near enough for an envelope
    for start in range(0, bot.size - 960, 960):
        detector.played(bot[start:start + 960], at=5.0 + start / 48_000)
    echo = np.repeat(room(speech16k["fox"], gain=0.3, delay=0.1), 3)
    for start in range(0, echo.size - 960, 960):
        detector.heard(echo[start:start + 960], at=5.0 + start / 48_000)

    assert detector.is_echo(5.2, 6.5)


@pytest.mark.parametrize(
    ("transcript", "echo"),
    [
        ("the quick brown fox jumps", True),
        ("Quick brown fox, jumps over the lazy", True),
        ("the fox", True),
        ("Stop, I have a question.", False),
        ("What about the dog?", False),
        ("", False),
    ],
)
def test_a_transcript_of_the_bots_own_words_is_echo(transcript: str, echo: bool) -> None:
    played = ["The capital of France is Paris.", "The quick brown fox jumps over the lazy dog."]

    assert transcript_is_echo(transcript, played) is echo
