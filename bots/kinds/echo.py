"""The echo bot: each participant hears their own voice back, a moment later, and no one else's."""
from __future__ import annotations

import numpy as np

from bots.kinds.base import BotBehaviour
from bots.models import BotKind
from lobbies.models import Participant

# How long after speaking a participant hears it back: long enough to tell
# the echo from the voice, well inside the second the protocol allows.
ECHO_DELAY = 0.2
# Echo still waiting past this (the worker fell behind) is dropped rather than
# played late: the echo stays within the second the protocol allows.
MAX_BACKLOG = 0.45


class EchoBot(BotBehaviour):
    kind = BotKind.ECHO

    async def started(self) -> None:
        self.context.set_state(Participant.BotState.LISTENING)

    def audio_received(self, peer_id: str, pcm: np.ndarray) -> None:
        # Into that participant's own outgoing audio only.
        audio = self.context.audio
        if audio.queued(peer_id) < MAX_BACKLOG:
            audio.play(peer_id, pcm, delay=ECHO_DELAY)
