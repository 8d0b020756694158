"""A participant made of aiortc and websockets, for the bot tests and the benchmark.

It joins a lobby over the real WebSocket, connects WebRTC to the bots in it
(only to bots: the tests are about what bots send), sends an audio track of
its own (``ToneTrack``: silence, or a tone while a burst is on) and records
what each bot sends it, 20 ms at a time, with the arrival time and the
energy at the frequencies the tests listen for.
"""
from __future__ import annotations

import asyncio
import fractions
import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame
from websockets.asyncio.client import ClientConnection, connect

RATE = 48000
FRAME = 960
DEADLINE = 20.0


def api(base_url: str, method: str, path: str, body: dict[str, Any] | None = None,
        token: str | None = None) -> tuple[int, Any]:
    """One JSON API call; (status, body) whatever the status."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def tone_power(pcm: np.ndarray, frequency: float) -> float:
    """The normalised power of ``pcm`` at ``frequency`` (Goertzel), 0 to about 1 for a full-scale tone."""
    samples = pcm.astype(np.float64) / 32768.0
    n = np.arange(len(samples))
    phase = 2 * np.pi * frequency * n / RATE
    real = float(np.dot(samples, np.cos(phase)))
    imag = float(np.dot(samples, np.sin(phase)))
    return 4 * (real * real + imag * imag) / (len(samples) ** 2)


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pcm.astype(np.float64) / 32768.0) ** 2))) if len(pcm) else 0.0


class ToneTrack(MediaStreamTrack):
    """Outgoing audio: silence, a tone during ``burst()``, or white noise with ``noise``."""

    kind = "audio"

    def __init__(self, frequency: float, *, amplitude: float = 0.5, noise: bool = False) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self.noise = noise
        self.burst_until = 0.0
        self.burst_starts: list[float] = []
        self.pending_start = False
        self.pts = 0
        self.started: float | None = None
        self.rng = np.random.default_rng(7)

    def burst(self, seconds: float) -> None:
        """A tone from the next frame on, for ``seconds``; the time its first frame goes out is recorded."""
        self.pending_start = True
        self.burst_seconds = seconds

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.started is None:
            self.started = time.monotonic()
        else:
            wait = self.started + self.pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        now = time.monotonic()
        if self.pending_start:
            self.pending_start = False
            self.burst_until = now + self.burst_seconds
            self.burst_starts.append(now)
        if now < self.burst_until:
            t = (self.pts + np.arange(FRAME)) / RATE
            samples = self.amplitude * np.sin(2 * np.pi * self.frequency * t)
        elif self.noise:
            samples = self.amplitude * self.rng.uniform(-1, 1, FRAME)
        else:
            samples = np.zeros(FRAME)
        frame = AudioFrame.from_ndarray((samples * 32767).astype(np.int16).reshape(1, -1), format="s16",
                                        layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, RATE)
        self.pts += FRAME
        return frame


class SpeechTrack(MediaStreamTrack):
    """Outgoing audio: silence, or the speech ``say()`` queued (48 kHz int16), in real time.

    ``said`` holds, for each ``say``, when its first and last frames went out;
    ``ends`` when the last frame of each went out (the end of that speech, as
    the participant's microphone saw it).
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[np.ndarray] = []
        self.pts = 0
        self.started: float | None = None
        # (monotonic time its first frame went out, its last frame went out) of each thing said.
        self.said: list[list[float]] = []
        self.ends: list[float] = []
        # How many frames of each ``say`` are still to go out.
        self.left_of_last: list[int] = []

    def say(self, pcm48k: np.ndarray) -> None:
        padded = np.concatenate([pcm48k.astype(np.int16), np.zeros(-len(pcm48k) % FRAME, dtype=np.int16)])
        frames = padded.reshape(-1, FRAME)
        self.pending.extend(frames)
        self.said.append([])
        self.left_of_last.append(len(frames))

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    speaking = busy

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.started is None:
            self.started = time.monotonic()
        else:
            wait = self.started + self.pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        if self.pending:
            samples = self.pending.pop(0)
            # The oldest ``say`` still going out is the first with frames left.
            index = next(i for i, left in enumerate(self.left_of_last) if left)
            mark = self.said[index]
            now = time.monotonic()
            mark[:] = [mark[0] if mark else now, now + FRAME / RATE]
            self.left_of_last[index] -= 1
            if not self.left_of_last[index]:
                self.ends.append(now + FRAME / RATE)
        else:
            samples = np.zeros(FRAME, dtype=np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, RATE)
        self.pts += FRAME
        return frame


@dataclass
class Heard:
    """20 ms frames one peer sent us: (arrival time, pcm)."""

    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)

    def since(self, start: float) -> list[tuple[float, np.ndarray]]:
        return [(at, pcm) for at, pcm in self.frames if at >= start]

    def first_tone(self, frequency: float, start: float, *, threshold: float = 0.01) -> float | None:
        """When the tone at ``frequency`` was first heard after ``start``."""
        for at, pcm in self.since(start):
            if tone_power(pcm, frequency) > threshold:
                return at
        return None

    def pcm(self, start: float, end: float = float("inf")) -> np.ndarray:
        """What arrived between ``start`` and ``end``, as one array."""
        parts = [pcm for at, pcm in self.frames if start <= at <= end]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def first_sound(self, start: float, *, level: float = 0.01) -> float | None:
        """When the first frame louder than ``level`` (RMS) arrived after ``start``."""
        return next((at for at, pcm in self.since(start) if rms(pcm) > level), None)

    def last_sound(self, start: float, *, level: float = 0.01) -> float | None:
        loud = [at for at, pcm in self.since(start) if rms(pcm) > level]
        return loud[-1] if loud else None

    def loudest(self, start: float, end: float) -> float:
        return max((rms(pcm) for at, pcm in self.frames if start <= at <= end), default=0.0)


class RtcParticipant:
    def __init__(self, base_url: str, lobby_id: str, name: str, *, track: MediaStreamTrack | None = None,
                 answer_offers: bool = True, session: dict[str, Any] | None = None) -> None:
        self.base_url = base_url
        self.lobby_id = lobby_id
        self.name = name
        self.session = session or api(base_url, "POST", "/api/sessions", {"name": name})[1]
        self.session_id: str = self.session["session_id"]
        self.token: str = self.session["token"]
        self.track = track
        self.answer_offers = answer_offers
        self.socket: ClientConnection | None = None
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.heard: dict[str, Heard] = {}
        self.participants: dict[str, dict[str, Any]] = {}
        self.frames: list[dict[str, Any]] = []
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.tasks: list[asyncio.Task[Any]] = []
        self.offers_seen = 0
        self.relay = MediaRelay()

    async def join(self) -> dict[str, Any]:
        port = self.base_url.rsplit(":", 1)[1]
        self.socket = await connect(f"ws://127.0.0.1:{port}/ws/lobby/{self.lobby_id}/?token={self.token}",
                                    open_timeout=10)
        await self.send({"type": "join", "name": self.name})
        self.tasks.append(asyncio.get_running_loop().create_task(self._read()))
        joined = await self.wait_for(lambda f: f["type"] == "joined", what="joined")
        self.participants = {p["session_id"]: p for p in joined["participants"]}
        return joined

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(frame))

    async def add_bot(self, kind: str = "echo", **fields: Any) -> tuple[int, Any]:
        return await asyncio.to_thread(api, self.base_url, "POST", f"/api/lobbies/{self.lobby_id}/bots",
                                       {"kind": kind, **fields}, self.token)

    async def wait_for(self, match: Any, *, deadline: float = DEADLINE, what: str = "a frame") -> dict[str, Any]:
        """The first frame (seen before or arriving within ``deadline``) that ``match`` accepts; it is consumed."""
        end = time.monotonic() + deadline
        while True:
            for index, frame in enumerate(self.frames):
                if match(frame):
                    del self.frames[index]
                    return frame
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: no {what} within {deadline:.0f} s; frames: {self.frames[-10:]}")
            try:
                await asyncio.wait_for(self.events.get(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    async def _read(self) -> None:
        assert self.socket is not None
        async for text in self.socket:
            frame = json.loads(text)
            await self._handle(frame)
            self.frames.append(frame)
            self.events.put_nowait(frame)

    def is_bot(self, session_id: str) -> bool:
        return bool(self.participants.get(session_id, {}).get("is_bot"))

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in ("participant_joined", "participant_updated"):
            self.participants[frame["participant"]["session_id"]] = frame["participant"]
        elif kind == "participant_left":
            self.participants.pop(frame["session_id"], None)
        elif kind == "add_peer" and self.is_bot(frame["peer_id"]):
            await self._close_pc(frame["peer_id"])
            pc = self._new_pc(frame["peer_id"])
            if frame["should_create_offer"]:
                await pc.setLocalDescription(await pc.createOffer())
                await self._send_description(frame["peer_id"], pc)
        elif kind == "remove_peer":
            await self._close_pc(frame["peer_id"])
        elif kind == "session_description" and frame["peer_id"] in self.pcs:
            pc = self.pcs[frame["peer_id"]]
            description = frame["description"]
            if description["type"] == "offer":
                self.offers_seen += 1
                if not self.answer_offers:
                    return
                await pc.setRemoteDescription(RTCSessionDescription(description["sdp"], "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                await self._send_description(frame["peer_id"], pc)
            elif description["type"] == "answer" and pc.signalingState == "have-local-offer":
                await pc.setRemoteDescription(RTCSessionDescription(description["sdp"], "answer"))
        elif kind == "ice_candidate" and frame["peer_id"] in self.pcs:
            line = frame["candidate"].get("candidate") or ""
            if line:
                candidate = candidate_from_sdp(line.split(":", 1)[1])
                candidate.sdpMid = frame["candidate"].get("sdpMid")
                candidate.sdpMLineIndex = frame["candidate"].get("sdpMLineIndex")
                await self.pcs[frame["peer_id"]].addIceCandidate(candidate)

    def _new_pc(self, peer_id: str) -> RTCPeerConnection:
        pc = RTCPeerConnection()
        self.pcs[peer_id] = pc
        if self.track is not None:
            # Through a relay: a closed connection stops its own copy, never the track itself (the
            # next connection with the same peer, after a bot moved to another worker, reads it on).
            pc.addTrack(self.relay.subscribe(self.track, buffered=False))
        else:
            pc.addTransceiver("audio", direction="recvonly")
        heard = self.heard.setdefault(peer_id, Heard())

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tasks.append(asyncio.get_running_loop().create_task(self._record(track, heard)))

        return pc

    async def _record(self, track: MediaStreamTrack, heard: Heard) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for mono in resampler.resample(frame):
                heard.frames.append((time.monotonic(), mono.to_ndarray().reshape(-1)))
                del heard.frames[:-3000]  # the last minute

    async def _send_description(self, peer_id: str, pc: RTCPeerConnection) -> None:
        local = pc.localDescription
        await self.send({"type": "relay_session_description", "peer_id": peer_id,
                         "description": {"type": local.type, "sdp": local.sdp}})

    async def _close_pc(self, peer_id: str) -> None:
        pc = self.pcs.pop(peer_id, None)
        if pc is not None:
            await pc.close()

    def bot_ids(self) -> list[str]:
        return [sid for sid, p in self.participants.items() if p.get("is_bot")]

    async def connected_to(self, peer_id: str, *, deadline: float = DEADLINE) -> None:
        end = time.monotonic() + deadline
        while not (peer_id in self.pcs and self.pcs[peer_id].connectionState == "connected"):
            if time.monotonic() > end:
                state = self.pcs[peer_id].connectionState if peer_id in self.pcs else "no connection"
                raise AssertionError(f"{self.name}: not connected to {peer_id[:8]} within {deadline:.0f} s ({state})")
            await asyncio.sleep(0.1)

    async def close(self, *, leave: bool = True) -> None:
        """Leaves the lobby (unless ``leave`` is false: the place is then held for the grace period) and closes."""
        if leave and self.socket is not None:
            try:
                await self.send({"type": "leave"})
            except Exception:  # noqa: BLE001 - the socket may be gone already
                pass
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for peer_id in list(self.pcs):
            await self._close_pc(peer_id)
        if self.socket is not None:
            await self.socket.close()
            self.socket = None


def echo_delay(track: ToneTrack, heard: Heard, frequency: float, *, after: float) -> float | None:
    """Seconds from the tone's last burst going out to its echo arriving, or None when it never came."""
    start = track.burst_starts[-1]
    arrived = heard.first_tone(frequency, max(start, after))
    return None if arrived is None else arrived - start
