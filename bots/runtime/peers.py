"""One WebRTC peer connection of a bot with one participant (aiortc).

The roles come from ``add_peer``: with ``should_create_offer`` the bot offers
first. Offers that collide follow perfect negotiation: the impolite side
ignores the incoming offer, the polite side gives up its own; aiortc cannot
roll a description back, so a polite bot starts a fresh connection for the
incoming offer instead. aiortc puts its own candidates in its SDP; the
participant's trickled candidates are added once a remote description is
set (held until then, a bounded number). Signaling messages are handled one
at a time, in order, by the link's task; a description or candidate that
aiortc refuses (garbage SDP) is reported and dropped, and the link goes on.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from bots.kinds.base import SAMPLE_RATE
from bots.runtime.audio import AudioMixer
from bots.runtime.jitter import listen_sooner

logger = logging.getLogger("voicebot.bots")

# Signaling messages waiting for the link's task, and candidates waiting for a
# remote description, at most; beyond them the newest are dropped.
INBOX_SIZE = 64
PENDING_CANDIDATES = 64
REPORTED_FAILURES = {10**n for n in range(10)}

SendDescription = Callable[[str, dict[str, Any]], Awaitable[None]]
SendCandidate = Callable[[str, dict[str, Any]], Awaitable[None]]


def ice_servers_of(servers: list[dict[str, Any]]) -> list[RTCIceServer]:
    """The deployment's ``VOICEBOT_ICE_SERVERS`` (browser RTCIceServer objects) for aiortc."""
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers if isinstance(s, dict) and s.get("urls")]


class PeerLink:
    def __init__(
        self,
        peer_id: str,
        *,
        polite: bool,
        should_create_offer: bool,
        mixer: AudioMixer,
        send_description: SendDescription,
        on_audio: Callable[[str, np.ndarray], None],
        on_state: Callable[[PeerLink], None],
        report: Callable[[BaseException, str], None],
        ice_servers: list[RTCIceServer] | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.polite = polite
        self.should_create_offer = should_create_offer
        self.mixer = mixer
        self.send_description = send_description
        self.on_audio = on_audio
        self.on_state = on_state
        self.report = report
        self.ice_servers = ice_servers or []
        self.inbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(INBOX_SIZE)
        self.pending: list[dict[str, Any]] = []
        self.state = "new"
        self.frames_received = 0
        self.audio_failures = 0
        self.receivers: set[asyncio.Task[None]] = set()
        self.pc = self._new_connection()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"peer-{peer_id[:8]}")

    # --- From the runner ----------------------------------------------------

    def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        """A ``session_description`` or ``ice_candidate`` from the participant."""
        try:
            self.inbox.put_nowait((kind, payload))
        except asyncio.QueueFull:
            logger.warning("peer %s sends signaling faster than it is handled; one message dropped", self.peer_id)

    async def close(self) -> None:
        self.task.cancel()
        for task in list(self.receivers):
            task.cancel()
        await asyncio.gather(self.task, *self.receivers, return_exceptions=True)
        await self.pc.close()
        self.mixer.track_closed(self.peer_id)
        self.state = "closed"

    # --- The connection -----------------------------------------------------

    def _new_connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        pc.addTrack(self.mixer.track_for(self.peer_id))
        for transceiver in pc.getTransceivers():
            listen_sooner(transceiver.receiver)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                for transceiver in pc.getTransceivers():  # one the participant's offer added
                    if transceiver.receiver.track is track:
                        listen_sooner(transceiver.receiver)
                task = asyncio.get_running_loop().create_task(self._receive(track))
                self.receivers.add(task)
                task.add_done_callback(self.receivers.discard)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc is self.pc:
                self.state = pc.connectionState
                self.on_state(self)

        return pc

    async def _restart(self) -> None:
        old, self.pc = self.pc, self._new_connection()
        self.pending.clear()
        self.state = "new"
        await old.close()

    async def _run(self) -> None:
        if self.should_create_offer:
            await self._guarded(self._offer(), "offer")
        while True:
            kind, payload = await self.inbox.get()
            handler = self._description(payload) if kind == "description" else self._candidate(payload)
            await self._guarded(handler, kind)

    async def _guarded(self, step: Awaitable[None], where: str) -> None:
        try:
            await step
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad message from one peer must not end the link
            logger.info("peer %s: %s refused: %s: %s", self.peer_id, where, type(exc).__name__, exc)
            self.report(exc, f"peer.{where}")

    async def _send_local(self) -> None:
        local = self.pc.localDescription
        await self.send_description(self.peer_id, {"type": local.type, "sdp": local.sdp})

    async def _offer(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self._send_local()

    async def _description(self, description: dict[str, Any]) -> None:
        kind, sdp = description.get("type"), description.get("sdp") or ""
        if kind == "offer":
            if self.pc.signalingState != "stable":
                if not self.polite:
                    return  # the impolite side keeps its own offer
                await self._restart()
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self._send_local()
            await self._flush_candidates()
        elif kind == "answer":
            if self.pc.signalingState != "have-local-offer":
                return  # an answer to an offer this connection no longer has
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            await self._flush_candidates()
        # pranswer and rollback need nothing of an aiortc answerer.

    async def _candidate(self, candidate: dict[str, Any]) -> None:
        line = candidate.get("candidate") or ""
        if not line:
            return  # end of candidates
        if self.pc.remoteDescription is None:
            if len(self.pending) < PENDING_CANDIDATES:
                self.pending.append(candidate)
            return
        text = line[2:] if line.startswith("a=") else line
        parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await self.pc.addIceCandidate(parsed)

    async def _flush_candidates(self) -> None:
        pending, self.pending = self.pending, []
        for candidate in pending:
            await self._guarded(self._candidate(candidate), "candidate")

    async def _receive(self, track: MediaStreamTrack) -> None:
        """The participant's audio, 48 kHz mono int16, to the behaviour frame by frame."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for mono in resampler.resample(frame):
                self.frames_received += 1
                try:
                    self.on_audio(self.peer_id, mono.to_ndarray().reshape(-1))
                except Exception as exc:  # noqa: BLE001 - a behaviour's failure must not stop the audio
                    # A behaviour failing on every frame (50 a second) is reported at the
                    # 1st, 10th, 100th... failure, not flooding the log.
                    self.audio_failures += 1
                    if self.audio_failures in REPORTED_FAILURES:
                        self.report(exc, "audio_received")
