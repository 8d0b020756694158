"""What a kind of bot is: a ``BotBehaviour`` subclass with hooks the runtime calls.

The runtime (bots.runtime) joins the lobby, keeps one WebRTC peer connection
per participant and calls these hooks; a behaviour never touches sockets or
peer connections. What it may use is its ``BotContext``:

- ``context.audio`` (bots.runtime.audio.AudioOut): ``play(peer_id, pcm)``
  queues audio that only that participant hears, ``play_all(pcm)`` audio that
  every participant hears (mixed with the per-participant audio),
  ``clear(peer_id=None)`` drops what is queued (a barge-in), ``queued(peer_id=None)``
  says how many seconds are still to play (so "speaking" means "audio still queued");
  ``pause()``/``resume()`` hold the shared audio and play it on from where it
  stopped (``clear()`` ends a pause too), ``shared_position`` says how many
  seconds of shared audio went out (so the part of an answer that was heard is
  known), ``shared_listener`` is called with each shared frame as it goes out;
- ``await context.say(text, transcript_speaker=None)`` posts a chat line from the
  bot (with ``transcript_speaker``, a transcript of what that session said);
- ``context.set_state(state)``: ``listening``, ``thinking``, ``speaking`` or
  ``unavailable`` (the runtime holds ``starting`` until the peer connections are up);
- ``context.name``: the bot's display name in the lobby;
- ``context.participants``: session id -> the Participant object as last seen,
  the bot itself left out; ``context.profile``: the bot's BotProfile, or None;
- ``context.report(exc, where)``: store an error with category ``bot``;
- ``await context.mute(session_id)``: mute a participant of the lobby (a bot's
  ``set_muted`` with ``peer_id``: only ever to muted, the participant unmutes
  themselves), e.g. one who asked the bot to mute them;
- ``await context.leave()``: the bot leaves the lobby for good.

The runtime calls the hooks below as the lobby's frames arrive, one at a
time and awaited on the bot's event loop (so a hook must return quickly and
leave slow work, such as speech, to a task of its own): ``started`` after each
``joined`` (again after a resumed socket), ``participant_joined``,
``participant_updated``, ``participant_left`` and ``chat_received`` for the
frames of the same names, ``peer_connected``/``peer_closed`` as each peer
connection comes and goes, ``stopped`` once at the end. A hook that raises is
reported (``report``) and the bot goes on. ``stats()`` is read at each worker
heartbeat and stored with the worker's row (what the behaviour holds: queue
lengths, buffered seconds), so that tests and benchmarks can see it.

Audio is 48 kHz mono signed 16-bit PCM in numpy arrays (``SAMPLE_RATE``);
each received frame is 20 ms (``FRAME_SAMPLES`` samples). ``audio_received`` is
called for every frame of every participant, on the event loop: it must be
cheap (queue heavy work to a task or a thread of your own).
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms


class AudioOutput(Protocol):
    def play(self, peer_id: str, pcm: np.ndarray, *, delay: float = 0.0) -> None: ...
    def play_all(self, pcm: np.ndarray) -> None: ...
    def clear(self, peer_id: str | None = None) -> None: ...
    def queued(self, peer_id: str | None = None) -> float: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    @property
    def shared_position(self) -> float: ...
    @property
    def shared_queued_position(self) -> float: ...


class BotContext(Protocol):
    session_id: str
    name: str
    lobby_id: str
    profile: Any
    participants: dict[str, dict[str, Any]]
    audio: AudioOutput

    async def say(self, text: str, *, transcript_speaker: str | None = None) -> None: ...
    def set_state(self, state: str) -> None: ...
    def report(self, exc: BaseException, where: str) -> None: ...
    async def mute(self, session_id: str) -> None: ...
    async def leave(self) -> None: ...


class BotBehaviour:
    """Base of every kind of bot; each hook does nothing unless overridden."""

    kind: ClassVar[str]

    def __init__(self, context: BotContext) -> None:
        self.context = context

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this process cannot run the kind (a provider missing, in words), or None."""
        return None

    @classmethod
    async def warm_up(cls) -> None:
        """Load what bots of this kind need (models), once per worker, at its start; failures are reported."""

    async def started(self) -> None:
        """The bot joined the lobby (or resumed its place)."""

    async def stopped(self) -> None:
        """The bot is leaving, or its worker stops: release what the behaviour holds."""

    def audio_received(self, peer_id: str, pcm: np.ndarray) -> None:
        """One 20 ms frame of ``peer_id``'s voice."""

    async def peer_connected(self, peer_id: str) -> None:
        """Audio with ``peer_id`` flows both ways."""

    async def peer_closed(self, peer_id: str) -> None:
        """The peer connection with ``peer_id`` is gone (it left, or negotiates afresh)."""

    async def participant_joined(self, participant: dict[str, Any]) -> None:
        """Someone new is in the lobby."""

    async def participant_updated(self, participant: dict[str, Any]) -> None:
        """Someone renamed, muted, or is reconnecting (or back)."""

    async def participant_left(self, session_id: str, reason: str, participant: dict[str, Any] | None) -> None:
        """Someone left (``participant`` is how the bot last saw them, when it did)."""

    async def chat_received(self, message: dict[str, Any]) -> None:
        """A chat line (the bot's own included; a transcript carries ``transcript``)."""

    def stats(self) -> dict[str, Any]:
        """What the behaviour holds now, as JSON-able numbers (queue lengths, buffered seconds)."""
        return {}
