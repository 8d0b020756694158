"""A BotContext for running one behaviour in the test process: what it says, its states, its errors.

Its audio is the runtime's own ``AudioMixer``; ``drain`` takes what the bot
queued for everyone, as a listener faster than real time would, so that a
test hears it without waiting for it to play.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bots.runtime.audio import AudioMixer
from web.tests.polling import eventually


class RecordingContext:
    def __init__(self, *, profile: Any = None) -> None:
        self.session_id = "b0" * 16
        self.lobby_id = "lobby"
        self.profile = profile
        # Everyone the tests make speak is in the lobby.
        self.participants: dict[str, dict[str, Any]] = {
            peer: {"session_id": peer, "name": name, "is_bot": False}
            for peer, name in (("a1" * 16, "Ann"), ("b2" * 16, "Bob"), ("c3" * 16, "Carol"), ("d4" * 16, "Dan"))}
        self.audio = AudioMixer()
        self.said: list[tuple[str, str | None]] = []
        self.states: list[str] = []
        self.reported: list[tuple[BaseException, str]] = []
        self.heard: list[np.ndarray] = []

    async def say(self, text: str, *, transcript_speaker: str | None = None) -> None:
        self.said.append((text, transcript_speaker))

    def set_state(self, state: str) -> None:
        self.states.append(state)

    @property
    def state(self) -> str | None:
        return self.states[-1] if self.states else None

    def report(self, exc: BaseException, where: str) -> None:
        self.reported.append((exc, where))

    def drain(self) -> np.ndarray:
        """The shared audio queued so far, taken off the queue."""
        frames = []
        while (frame := self.audio.shared.pop(float("inf"))) is not None:
            frames.append(frame)
        if frames:
            self.heard.append(np.concatenate(frames))
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)

    def heard_pcm(self) -> np.ndarray:
        self.drain()
        return np.concatenate(self.heard) if self.heard else np.zeros(0, dtype=np.int16)


async def until(check: Callable[[], Any], *, deadline: float = 30.0, what: str = "the condition",
                context: RecordingContext | None = None) -> Any:
    """``eventually`` with the context's audio drained before each look at ``check``."""
    def drained_check() -> Any:
        if context is not None:
            context.drain()
        return check()

    return await eventually(drained_check, deadline=deadline, interval=0.05, what=what)
