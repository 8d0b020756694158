"""The load generator: one worker process drives whole lobbies of WebSocket clients.

A worker connects its clients, joins them, tells the runner, waits for the
signal to relay, then has every client send ICE candidates to its peers
round-robin at a fixed rate for a fixed time. Each candidate carries its
pair sequence number and send time in ``usernameFragment``; each receiver
checks that it knew the sender before its first relay (``participant_joined``
or the ``joined`` roster), that no frame of a pair is missing or out of order,
and records the latency. Everything is bounded: the number of clients, the
relay time, and a deadline on each phase after which the worker gives up and
reports what it saw.
"""
from __future__ import annotations

import asyncio
import json
import resource
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CANDIDATE_LINE = "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host"
CONNECT_CONCURRENCY = 32
PHASE_TIMEOUT = 600.0
DRAIN_TIMEOUT = 15.0


@dataclass
class Member:
    """One participant of a lobby: where it connects and as whom."""

    url: str
    session_id: str


@dataclass
class WorkerSpec:
    lobbies: list[list[Member]]
    rate_per_client: float  # relays per second each client sends
    seconds: float


@dataclass
class Client:
    member: Member
    peers: list[str] = field(default_factory=list)  # the others of its lobby
    socket: ClientConnection | None = None
    known: set[str] = field(default_factory=set)
    sent_to: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, int] = field(default_factory=dict)
    joined: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Tally:
    sent: int = 0
    received: int = 0
    gaps: int = 0  # a pair's sequence number skipped or went back
    unknown_sender: int = 0  # a relay before its sender's participant_joined
    errors: dict[str, int] = field(default_factory=dict)
    connect_failures: int = 0
    closed_early: int = 0
    latencies: array = field(default_factory=lambda: array("d"))


def candidate_frame(peer_id: str, seq: int) -> str:
    return json.dumps({
        "type": "relay_ice_candidate",
        "peer_id": peer_id,
        "candidate": {"candidate": CANDIDATE_LINE, "sdpMid": "0", "sdpMLineIndex": 0,
                      "usernameFragment": f"{seq} {time.time():.6f}"},
    })


async def read_frames(client: Client, tally: Tally, measuring: list[bool]) -> None:
    assert client.socket is not None
    try:
        async for text in client.socket:
            frame = json.loads(text)
            kind = frame["type"]
            if kind == "ice_candidate":
                now = time.time()
                sender = frame["peer_id"]
                seq_text, sent_at = frame["candidate"]["usernameFragment"].split(" ")
                seq = int(seq_text)
                if sender not in client.known:
                    tally.unknown_sender += 1
                if seq != client.last_seen.get(sender, 0) + 1:
                    tally.gaps += 1
                client.last_seen[sender] = seq
                tally.received += 1
                if measuring[0]:
                    tally.latencies.append((now - float(sent_at)) * 1000.0)
            elif kind == "joined":
                client.known.update(p["session_id"] for p in frame["participants"] if p["status"] == "connected")
                client.joined.set()
            elif kind == "participant_joined":
                client.known.add(frame["participant"]["session_id"])
            elif kind == "participant_left":
                client.known.discard(frame["session_id"])
            elif kind == "error":
                tally.errors[frame["code"]] = tally.errors.get(frame["code"], 0) + 1
                client.joined.set()  # a refused join must not hang the phase
    except ConnectionClosed:
        tally.closed_early += 1


async def open_client(client: Client, tally: Tally, readers: list[asyncio.Task[None]],
                      measuring: list[bool], gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            client.socket = await connect(client.member.url, open_timeout=300, max_size=2**20, compression=None)
        except (OSError, asyncio.TimeoutError, ConnectionClosed) as exc:
            tally.connect_failures += 1
            tally.errors[type(exc).__name__] = tally.errors.get(type(exc).__name__, 0) + 1
            return
        readers.append(asyncio.ensure_future(read_frames(client, tally, measuring)))
        await client.socket.send(json.dumps({"type": "join"}))
        try:
            await asyncio.wait_for(client.joined.wait(), 300)
        except asyncio.TimeoutError:
            tally.errors["join_timeout"] = tally.errors.get("join_timeout", 0) + 1


async def send_relays(clients: list[Client], spec: WorkerSpec, tally: Tally) -> None:
    """Every client sends ``rate_per_client`` relays a second, spread evenly over time."""
    senders = [c for c in clients if c.socket is not None and c.peers]
    if not senders or spec.rate_per_client <= 0:
        return
    total_rate = spec.rate_per_client * len(senders)
    start = time.monotonic()
    end = start + spec.seconds
    due = 0
    while (now := time.monotonic()) < end:
        target = int((now - start) * total_rate)
        while due < target:
            client = senders[due % len(senders)]
            peer = client.peers[(due // len(senders)) % len(client.peers)]
            seq = client.sent_to.get(peer, 0) + 1
            client.sent_to[peer] = seq
            assert client.socket is not None
            try:
                await client.socket.send(candidate_frame(peer, seq))
                tally.sent += 1
            except ConnectionClosed:
                client.sent_to[peer] = seq - 1
            due += 1
        await asyncio.sleep(0.005)


async def run_worker(spec: WorkerSpec, conn: Connection) -> dict[str, Any]:
    tally = Tally()
    measuring = [False]
    clients: list[Client] = []
    for lobby in spec.lobbies:
        for member in lobby:
            clients.append(Client(member, peers=[m.session_id for m in lobby if m is not member]))
    readers: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.monotonic()
    # Clients of a lobby join one after another (so that the roles of
    # perfect negotiation are fixed); lobbies join in parallel.

    async def join_lobby(lobby_clients: list[Client]) -> None:
        for client in lobby_clients:
            await open_client(client, tally, readers, measuring, gate)

    by_lobby: list[list[Client]] = []
    i = 0
    for lobby in spec.lobbies:
        by_lobby.append(clients[i:i + len(lobby)])
        i += len(lobby)
    try:
        await asyncio.wait_for(asyncio.gather(*(join_lobby(c) for c in by_lobby)), PHASE_TIMEOUT)
    except asyncio.TimeoutError:
        tally.errors["connect_phase_timeout"] = 1
    join_seconds = time.monotonic() - started
    conn.send(("joined", {"clients": sum(c.socket is not None for c in clients), "seconds": join_seconds}))
    # Wait for the runner: every worker joined, the server measured at rest.
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    measuring[0] = True
    await send_relays(clients, spec, tally)
    measuring[0] = False
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while tally.received < tally.sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    drained = tally.received >= tally.sent
    for client in clients:
        if client.socket is not None:
            await client.socket.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return {
        "sent": tally.sent,
        "received": tally.received,
        "drained": drained,
        "gaps": tally.gaps,
        "unknown_sender": tally.unknown_sender,
        "errors": tally.errors,
        "connect_failures": tally.connect_failures,
        "closed_early": tally.closed_early,
        "latencies": tally.latencies.tobytes(),
    }


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Entry point of a worker process: run, send the result, exit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        result = uvloop.run(run_worker(spec, conn))
    except ImportError:
        result = asyncio.run(run_worker(spec, conn))
    conn.send(("done", result))
    conn.close()
