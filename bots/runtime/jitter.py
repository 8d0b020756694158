"""How long a bot holds the audio it receives before it hears it: one frame, not four.

aiortc's audio receiver keeps a jitter buffer that releases a packet only once
four more have arrived (``JitterBuffer(capacity=16, prefetch=4)``): 80 ms, so
that a player can play evenly. A bot plays nothing it receives; it listens
(voice activity, speech to text), and for that the packets need to be in order,
not evenly spaced. With a prefetch of one frame the bot hears everything 60 ms
sooner: the end of a question (voice to voice) and speech over its own voice
(barge-in). Packets that arrive out of order within the buffer are still put
back in order; one later than the next frame is dropped, as aiortc drops one
that is later than its four.

aiortc (1.16) has no setting for it, so ``listen_sooner`` replaces the buffer of
a receiver that has not received anything yet; if a later aiortc renames it,
the receiver keeps its own buffer (the bot then hears 60 ms later) and a warning
says so once. ``bots/tests/test_jitter.py`` checks the pinned aiortc.
"""
from __future__ import annotations

import logging

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer

logger = logging.getLogger("voicebot.bots")

CAPACITY = 16  # aiortc's own, in packets (one 20 ms Opus frame each)
PREFETCH = 1
_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
_warned = False


def listen_sooner(receiver: RTCRtpReceiver) -> bool:
    """Give an audio ``receiver`` the one-frame buffer; whether it could (False: aiortc's stays)."""
    global _warned
    buffer = getattr(receiver, _ATTRIBUTE, None)
    if (not isinstance(buffer, JitterBuffer) or getattr(buffer, "_is_video", True)
            or getattr(buffer, "_origin", 0) is not None):
        # Not aiortc's audio buffer as pinned, or one already holding packets: left as it is.
        if not _warned and not isinstance(buffer, JitterBuffer):
            _warned = True
            logger.warning("aiortc's receiver has no jitter buffer where 1.16 keeps it: bots hear 60 ms later")
        return False
    setattr(receiver, _ATTRIBUTE, JitterBuffer(capacity=CAPACITY, prefetch=PREFETCH))
    return True
