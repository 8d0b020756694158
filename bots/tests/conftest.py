"""Fixtures of the bot tests: the speech models (loaded once per test session) and speech they made;
a real server with bot workers in a loopback-only namespace."""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from bots.speech.audio import SPEECH_RATE, WEBRTC_RATE, PcmResampler
from bots.speech.providers import chains_reset
from bots.speech.stt import FasterWhisperSTT
from bots.speech.tts import PiperTTS
from bots.tests.speech_server import SpeechServer
from bots.tests.stack import BotStack, WorkerProcess, namespaced_stack
from resilience.registry import dependencies_reset
from web.tests import netns

SENTENCES = {
    "fox": "The quick brown fox jumps over the lazy dog.",
    "umbrella": "Please remember to bring your umbrella tomorrow.",
    "meeting": "The meeting starts at noon in the large room.",
}


@pytest.fixture(scope="session")
def whisper() -> FasterWhisperSTT:
    """faster-whisper with the bundled tiny.en model, loaded and run once."""
    model = FasterWhisperSTT()
    asyncio.run(model.warm_up())
    return model


@pytest.fixture(scope="session")
def piper() -> PiperTTS:
    """Piper with the bundled en_US joe voice, loaded and run once."""
    voice = PiperTTS()
    asyncio.run(voice.warm_up())
    return voice


async def speak(tts: PiperTTS, text: str) -> np.ndarray:
    chunks = [chunk async for chunk in tts.synthesize(text)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    resampler = PcmResampler(rate, SPEECH_RATE)
    return np.concatenate([resampler.push(samples), resampler.flush()])


@pytest.fixture(scope="session")
def speech16k(piper: PiperTTS) -> dict[str, np.ndarray]:
    """Each of SENTENCES spoken by Piper, at 16 kHz mono."""
    return {key: to_16k(asyncio.run(speak(piper, text)), piper.sample_rate) for key, text in SENTENCES.items()}


def trimmed(pcm: np.ndarray, level: int = 200) -> np.ndarray:
    """Without the silence before and after the speech."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > level)
    return pcm[loud[0]:loud[-1] + 1] if loud.size else pcm[:0]


def to_48k(samples: np.ndarray, rate: int) -> np.ndarray:
    resampler = PcmResampler(rate, WEBRTC_RATE)
    return np.concatenate([resampler.push(samples), resampler.flush()])


@pytest.fixture(scope="session")
def speech48k(piper: PiperTTS) -> dict[str, np.ndarray]:
    """Each of SENTENCES spoken by Piper at 48 kHz (WebRTC's rate), the silence around it cut off."""
    return {key: to_48k(trimmed(asyncio.run(speak(piper, text))), piper.sample_rate)
            for key, text in SENTENCES.items()}


# Sentences of a long monologue (none repeats within one 15 s piece).
MONOLOGUE = (
    "Yesterday we walked along the river until the sun went down.",
    "My sister bakes bread every Sunday morning before breakfast.",
    "The train to the city leaves at half past seven from platform two.",
    "Our garden has tomatoes, beans and a small apple tree.",
    "Please send me the report before the end of the week.",
    "The children played football in the park after school.",
    "A cold wind blew across the hills all night long.",
    "He painted the kitchen door a bright shade of green.",
)


@pytest.fixture(scope="session")
def monologue48k(piper: PiperTTS, speech48k: dict[str, np.ndarray]) -> np.ndarray:
    """A minute of talk without a pause (Piper's sentences back to back), at 48 kHz."""
    sentences = [to_48k(trimmed(asyncio.run(speak(piper, text))), piper.sample_rate) for text in MONOLOGUE]
    sentences += list(speech48k.values())
    talk = np.concatenate(sentences * 3)
    return talk[: 60 * WEBRTC_RATE]


def silence48k(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * WEBRTC_RATE), dtype=np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SPEECH_RATE), dtype=np.int16)


# Ten seconds of sound that holds no speech, made from a seeded generator: the
# cases of "silence and noise are never speech".
WITHOUT_SPEECH = pytest.mark.parametrize(
    "make",
    [
        lambda rng: silence(10),
        lambda rng: (rng.standard_normal(160_000) * 6000).clip(-32768, 32767).astype(np.int16),
        lambda rng: rng.choice(np.array([-32768, 32767], dtype=np.int16), size=160_000),
    ],
    ids=["silence", "white_noise", "clipped_noise"],
)


def words(text: str) -> set[str]:
    return {word.strip(".,!?;:'\"").lower() for word in text.split()} - {""}


def mostly_heard(expected: set[str], heard: set[str]) -> bool:
    """All but at most one of the ``expected`` words heard: whisper tiny.en mishears a word of
    Piper's now and then ("quit brown fox": Piper's voice varies from run to run), while the
    sentences' word sets are far enough apart that each is still told from the others."""
    return len(expected & heard) >= len(expected) - 1


@pytest.fixture
def fast_breakers(settings) -> Iterator[None]:
    """Breakers that open after 2 failures in a row and let a trial through after 0.3 s."""
    settings.VOICEBOT_BREAKER_FAILURE_THRESHOLD = 2
    settings.VOICEBOT_BREAKER_RECOVERY_TIMEOUT = 0.3
    dependencies_reset()
    yield
    dependencies_reset()


@pytest.fixture(scope="module")
def bot_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    """One server per test module, inside a namespace that has only loopback; tests start the workers."""
    missing = netns.unavailable_reason()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"bot tests cannot run: {missing}")
        pytest.skip(f"WebRTC bot tests need: {missing}")
    with namespaced_stack(tmp_path_factory.mktemp("bots")) as stack:
        yield stack


@pytest.fixture
def speech_server() -> Iterator[SpeechServer]:
    """A scripted OpenAI-compatible speech server on a loopback port (inside the namespace, for e2e tests)."""
    server = SpeechServer().start()
    yield server
    server.stop()


@pytest.fixture
def chains(settings) -> Iterator[None]:  # noqa: ANN001
    """The speech provider chains made afresh (and after), probed every 0.2 s while down."""
    settings.VOICEBOT_BOT_PROBE_INTERVAL = 0.2
    chains_reset()
    yield
    chains_reset()


@pytest.fixture
def start_worker(bot_stack: BotStack) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts workers of this test alone (settings as environment variables), stopped at its end."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = bot_stack.worker(env={"VOICEBOT_BOT_PROBE_INTERVAL": "0.5", **env})
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


# The JSON API client and the stored-error checks of the lobbies tests.
from lobbies.tests.conftest import api, join, session_rate_limit_reset, stored_errors  # noqa: E402,F401


@pytest.fixture
def live_worker(db: None) -> str:
    """A worker row whose heartbeat is fresh (no process: what the server sees of a running worker)."""
    from bots.kinds.catalog import KINDS, kind_unavailable_reason
    from bots.services import worker_heartbeat

    worker_heartbeat(worker_id="w" * 32, capacity=4, kinds={kind: kind_unavailable_reason(kind) for kind in KINDS})
    return "w" * 32
