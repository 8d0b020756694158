"""A bot's outgoing audio: one track per peer connection, each mixing the audio
every participant hears with the audio meant for that participant alone.

``AudioMixer`` is what a behaviour sees as ``context.audio``. Audio waits in
bounded queues of 20 ms frames (``PcmQueue``): past ``MAX_QUEUED_SECONDS`` the
oldest frames are dropped, so that a behaviour that produces faster than real
time, or a peer that reads slowly, never grows the bot's memory. The shared
audio advances on one clock for all peers: each track asks for the frame of
its next 20 ms slot, and every track gets the same frame for the same slot.

The shared audio can be paused (``pause``: nothing more of it goes out, what
is queued waits) and resumed where it stopped, and it counts what went out:
``shared_position`` is how many seconds of it every participant has been
sent, so a behaviour knows how much of what it queued was heard (a barge-in
keeps only that part); ``shared_listener`` is called with each shared frame
as it goes out (an assistant's echo detector compares it with what comes back).

aiortc's own ``AudioStreamTrack`` only sends silence; a track that serves
frames from a queue, paced in real time, is what is written here.
"""
from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from bots.kinds.base import FRAME_SAMPLES, SAMPLE_RATE

logger = logging.getLogger("voicebot.bots")

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
MAX_QUEUED_SECONDS = 30.0
# Shared frames kept for tracks that run a little behind the others.
SHARED_SLOTS_KEPT = 50
# A track this far behind its schedule starts afresh from now instead of catching up.
RESYNC_AFTER = 0.2
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)


def frames_of(pcm: np.ndarray) -> list[np.ndarray]:
    """``pcm`` (int16 mono) cut into 20 ms frames, the last one padded with silence."""
    samples = np.asarray(pcm, dtype=np.int16).reshape(-1)
    if not len(samples):
        return []
    padded = -len(samples) % FRAME_SAMPLES
    if padded:
        samples = np.concatenate([samples, np.zeros(padded, dtype=np.int16)])
    return list(samples.reshape(-1, FRAME_SAMPLES))


class PcmQueue:
    """20 ms frames waiting to be sent, each not before its due time; bounded."""

    def __init__(self, max_seconds: float = MAX_QUEUED_SECONDS) -> None:
        self.frames: deque[tuple[float, np.ndarray]] = deque()
        self.max_frames = max(1, int(max_seconds / FRAME_SECONDS))
        self.dropped = 0

    def push(self, pcm: np.ndarray, due: float) -> None:
        for frame in frames_of(pcm):
            self.frames.append((due, frame))
            due += FRAME_SECONDS
        while len(self.frames) > self.max_frames:
            self.frames.popleft()
            self.dropped += 1

    def pop(self, now: float) -> np.ndarray | None:
        if self.frames and self.frames[0][0] <= now:
            return self.frames.popleft()[1]
        return None

    def clear(self) -> None:
        self.frames.clear()

    @property
    def seconds(self) -> float:
        return len(self.frames) * FRAME_SECONDS


class AudioMixer:
    """Every peer's outgoing audio: shared (``play_all``) plus its own (``play``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.start = clock()
        self.shared = PcmQueue()
        self.shared_slot = -1
        self.shared_frames: dict[int, np.ndarray | None] = {}
        self.peers: dict[str, PcmQueue] = {}
        self.tracks: dict[str, OutgoingTrack] = {}
        self.frames_sent = 0
        self.frames_late = 0
        self.shared_paused = False
        # Shared frames that went out (each slot counted once, whichever track asked first).
        self.shared_frames_out = 0
        self.shared_listener: Callable[[np.ndarray, float], None] | None = None

    # --- What a behaviour calls -------------------------------------------

    def play(self, peer_id: str, pcm: np.ndarray, *, delay: float = 0.0) -> None:
        """Audio only ``peer_id`` hears, from ``delay`` seconds on; dropped when it has no connection."""
        queue = self.peers.get(peer_id)
        if queue is not None:
            queue.push(pcm, self.clock() + delay)

    def play_all(self, pcm: np.ndarray) -> None:
        self.shared.push(pcm, self.clock())

    def clear(self, peer_id: str | None = None) -> None:
        if peer_id is None:
            self.shared.clear()
            self.shared_paused = False
            for queue in self.peers.values():
                queue.clear()
        elif peer_id in self.peers:
            self.peers[peer_id].clear()

    def queued(self, peer_id: str | None = None) -> float:
        if peer_id is None:
            return self.shared.seconds
        queue = self.peers.get(peer_id)
        return 0.0 if queue is None else queue.seconds

    def pause(self) -> None:
        """Nothing more of the shared audio goes out until ``resume`` (what is queued waits)."""
        self.shared_paused = True

    def resume(self) -> None:
        """The shared audio plays on from where it was paused."""
        if self.shared_paused:
            self.shared_paused = False
            # What waited is due now, not late: it goes on at the next slot.
            now = self.clock()
            self.shared.frames = deque((max(due, now), frame) for due, frame in self.shared.frames)

    @property
    def shared_position(self) -> float:
        """Seconds of shared audio that went out since the mixer was made."""
        return self.shared_frames_out * FRAME_SECONDS

    @property
    def shared_queued_position(self) -> float:
        """Where audio pushed now with ``play_all`` will start, on the ``shared_position`` scale."""
        return self.shared_position + self.shared.seconds

    # --- What the runtime calls -------------------------------------------

    def track_for(self, peer_id: str) -> OutgoingTrack:
        """A new outgoing track for a peer connection with ``peer_id`` (any older one stops)."""
        self.track_closed(peer_id)
        self.peers[peer_id] = PcmQueue()
        track = self.tracks[peer_id] = OutgoingTrack(self, peer_id)
        return track

    def track_closed(self, peer_id: str) -> None:
        self.peers.pop(peer_id, None)
        track = self.tracks.pop(peer_id, None)
        if track is not None:
            track.stop()

    def current_slot(self) -> int:
        return int((self.clock() - self.start) / FRAME_SECONDS)

    def shared_frame(self, slot: int) -> np.ndarray | None:
        now = self.clock()
        while self.shared_slot < slot:
            self.shared_slot += 1
            frame = None if self.shared_paused else self.shared.pop(now)
            self.shared_frames[self.shared_slot] = frame
            self.shared_frames.pop(self.shared_slot - SHARED_SLOTS_KEPT, None)
            if frame is not None:
                self.shared_frames_out += 1
                if self.shared_listener is not None:
                    try:
                        self.shared_listener(frame, now)
                    except Exception:  # noqa: BLE001 - a behaviour's listener must not stop the audio
                        logger.exception("the shared audio's listener failed")
        return self.shared_frames.get(slot)

    def frame_for(self, peer_id: str, slot: int) -> np.ndarray:
        shared = self.shared_frame(slot)
        queue = self.peers.get(peer_id)
        own = None if queue is None else queue.pop(self.clock())
        if shared is None and own is None:
            return SILENCE
        if shared is None or own is None:
            return shared if own is None else own  # type: ignore[return-value]
        return np.clip(shared.astype(np.int32) + own, -32768, 32767).astype(np.int16)

    @property
    def queued_frames(self) -> int:
        return len(self.shared.frames) + sum(len(queue.frames) for queue in self.peers.values())


class OutgoingTrack(MediaStreamTrack):
    """One peer connection's outgoing audio, 20 ms frames in real time."""

    kind = "audio"

    def __init__(self, mixer: AudioMixer, peer_id: str) -> None:
        super().__init__()
        self.mixer = mixer
        self.peer_id = peer_id
        self.slot: int | None = None
        self.next_at = 0.0
        self.pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        clock = self.mixer.clock
        if self.slot is None:
            self.slot = self.mixer.current_slot()
            self.next_at = clock()
        else:
            self.slot += 1
            self.next_at += FRAME_SECONDS
            wait = self.next_at - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -FRAME_SECONDS:
                # The event loop was too busy to send this frame in time.
                self.mixer.frames_late += 1
                if wait < -RESYNC_AFTER:
                    self.next_at = clock()
                    self.slot = self.mixer.current_slot()
        pcm = self.mixer.frame_for(self.peer_id, self.slot)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.pts
        frame.time_base = TIME_BASE
        self.pts += FRAME_SAMPLES
        self.mixer.frames_sent += 1
        return frame
