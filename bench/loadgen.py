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
STORM_TIMEOUT = 180.0
STORM_RESEND = 1.0  # a storm relay not seen by its peer is sent again after this long


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
    storm: bool = False  # after the relays, every client drops its socket and rejoins


@dataclass
class Client:
    member: Member
    peers: list[str] = field(default_factory=list)  # the others of its lobby
    socket: ClientConnection | None = None
    known: set[str] = field(default_factory=set)
    sent_to: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, int] = field(default_factory=dict)
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    # Renegotiation seen on the current socket: peers it got add_peer for (and no
    # remove_peer since), peers it got participant_updated "connected" and remove_peer for.
    ready: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    storm_from: set[str] = field(default_factory=set)  # peers whose storm relay arrived
    fresh: set[str] = field(default_factory=set)  # peers it got participant_joined for (a new join, not a resume)
    reader: asyncio.Task[None] | None = None


@dataclass
class Tally:
    sent: int = 0
    received: int = 0
    gaps: int = 0  # a pair's sequence number skipped or went back
    unknown_sender: int = 0  # a relay before its sender's participant_joined
    errors: dict[str, int] = field(default_factory=dict)
    connect_failures: int = 0
    closed_early: int = 0
    storm_misordered: int = 0  # add_peer for a resumed peer without participant_updated and remove_peer first
    storm_errors: dict[str, int] = field(default_factory=dict)
    storming: bool = False
    storm_timeouts: int = 0  # participant_left "timeout" seen in the storm (a grace period ran out)
    storm_rejoins: int = 0  # a client's own place given up by the server, joined again
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
                if seq_text == "storm":
                    client.storm_from.add(sender)
                    continue
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
                client.fresh.add(frame["participant"]["session_id"])
            elif kind == "participant_left":
                client.known.discard(frame["session_id"])
                client.ready.discard(frame["session_id"])
                if tally.storming and frame["reason"] == "timeout":
                    tally.storm_timeouts += 1
                if frame["session_id"] == client.member.session_id:
                    # The server gave this place up (the grace period ran out before the
                    # rejoin arrived): join again, as a client does.
                    tally.storm_rejoins += 1
                    await client.socket.send(json.dumps({"type": "join"}))
            elif kind == "add_peer":
                peer = frame["peer_id"]
                if (tally.storming and not frame["should_create_offer"] and peer not in client.fresh
                        and not (peer in client.updated and peer in client.removed)):
                    tally.storm_misordered += 1
                client.ready.add(peer)
            elif kind == "remove_peer":
                client.removed.add(frame["peer_id"])
                client.ready.discard(frame["peer_id"])
            elif kind == "participant_updated":
                peer = frame["participant"]["session_id"]
                if frame["participant"]["status"] == "connected":
                    client.known.add(peer)
                    client.updated.add(peer)
                else:
                    client.ready.discard(peer)
                    client.updated.discard(peer)
                    client.removed.discard(peer)
            elif kind == "error":
                errors = tally.storm_errors if tally.storming else tally.errors
                errors[frame["code"]] = errors.get(frame["code"], 0) + 1
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
        client.reader = asyncio.ensure_future(read_frames(client, tally, measuring))
        readers.append(client.reader)
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
    storm = None
    if spec.storm:
        # Tell the runner the relays are over (it reads the CPU), wait for the signal to storm.
        conn.send(("relayed", {"sent": tally.sent, "received": tally.received}))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        storm = await reconnect_storm(clients, tally, readers, measuring, gate)
    for client in clients:
        if client.socket is not None:
            try:  # leave, so that a next round does not start beside sockets in their grace period
                await client.socket.send(json.dumps({"type": "leave"}))
            except ConnectionClosed:
                pass
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
        "storm": storm,
    }


def storm_frame(peer_id: str) -> str:
    return json.dumps({
        "type": "relay_ice_candidate",
        "peer_id": peer_id,
        "candidate": {"candidate": CANDIDATE_LINE, "sdpMid": "0", "sdpMLineIndex": 0,
                      "usernameFragment": f"storm {time.time():.6f}"},
    })


async def reconnect_storm(clients: list[Client], tally: Tally, readers: list[asyncio.Task[None]],
                          measuring: list[bool], gate: asyncio.Semaphore) -> dict[str, Any]:
    """Every client drops its socket at once, reconnects with the same token and joins again.

    Done when every client has its ``joined``, every client has ``add_peer`` for
    each of its peers on its new socket, and a relay from every client to every
    peer has arrived (a relay lost to a socket the server had not yet seen drop
    is sent again after ``STORM_RESEND`` seconds). Bounded by ``STORM_TIMEOUT``.
    """
    by_id = {c.member.session_id: c for c in clients}
    live = [c for c in clients if c.socket is not None]
    tally.storming = True
    for client in live:
        assert client.reader is not None and client.socket is not None
        client.reader.cancel()
    await asyncio.gather(*(c.reader for c in live if c.reader is not None), return_exceptions=True)
    started = time.monotonic()
    for client in live:
        assert client.socket is not None
        client.socket.transport.abort()  # dropped, no close handshake, no leave
        client.socket = None
        client.joined.clear()
        client.ready.clear()
        client.updated.clear()
        client.removed.clear()
        client.storm_from.clear()
        client.fresh.clear()
    reconnects = [asyncio.ensure_future(open_client(c, tally, readers, measuring, gate)) for c in live]
    pairs = [(c, by_id[p]) for c in live for p in c.peers if p in by_id and by_id[p] in live]
    last_sent: dict[tuple[str, str], float] = {}
    sent = resent = 0
    joined_at = renegotiated_at = None
    deadline = started + STORM_TIMEOUT
    done = False
    while time.monotonic() < deadline:
        now = time.monotonic()
        if joined_at is None and all(c.joined.is_set() and c.socket is not None for c in live):
            joined_at = now - started
        if renegotiated_at is None and joined_at is not None and all(
                b.member.session_id in a.ready and a.member.session_id in b.ready for a, b in pairs):
            renegotiated_at = now - started
        if all(a.member.session_id in b.storm_from for a, b in pairs) and renegotiated_at is not None:
            done = True
            break
        for a, b in pairs:
            key = (a.member.session_id, b.member.session_id)
            if a.socket is None or not a.joined.is_set() or key[1] not in a.ready or key[0] in b.storm_from:
                continue
            if now - last_sent.get(key, -STORM_RESEND) < STORM_RESEND:
                continue
            if key in last_sent:
                resent += 1
            last_sent[key] = now
            try:
                await a.socket.send(storm_frame(key[1]))
                sent += 1
            except ConnectionClosed:
                pass
        await asyncio.sleep(0.01)
    seconds = time.monotonic() - started
    for task in reconnects:
        task.cancel()
    await asyncio.gather(*reconnects, return_exceptions=True)
    tally.storming = False
    return {
        "clients": len(live),
        "pairs": len(pairs),
        "done": done,
        "seconds": round(seconds, 3),
        "all_joined_seconds": None if joined_at is None else round(joined_at, 3),
        "all_renegotiated_seconds": None if renegotiated_at is None else round(renegotiated_at, 3),
        "rejoined": sum(c.joined.is_set() and c.socket is not None for c in live),
        "pairs_relayed": sum(a.member.session_id in b.storm_from for a, b in pairs),
        "relays_sent": sent,
        "relays_resent": resent,
        "renegotiation_misordered": tally.storm_misordered,
        "timeouts_seen": tally.storm_timeouts,
        "places_lost_and_rejoined": tally.storm_rejoins,
        "errors": tally.storm_errors,
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
