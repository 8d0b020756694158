"""The load generator: one worker process drives whole lobbies of WebSocket clients.

A worker connects its clients, joins them, has every pair exchange an offer
and an answer (the side told ``should_create_offer`` offers), tells the
runner, waits for the signal, then has every client send relays to its peers
round-robin (nine in ten ICE candidates, one in ten offers of about 3 KB, and
now and then a chat message) at a fixed rate, or saturated with a window of
relays in flight, for a fixed time; optionally with a trickle of bad frames.
It speaks VoiceBot's protocol, or the PeerJS server's (``peerjs_frames``), so
that the same load measures a PeerJS server as a baseline.
Each relay carries its pair sequence number and send time; each receiver
checks that it knew the sender before its first relay (``participant_joined``
or the ``joined`` roster), that no frame of a pair is missing or out of
order, and records the latency. Everything is bounded: the number of
clients, the relay time, and a deadline on each phase after which the worker
gives up and reports what it saw.
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
RESEND_AFTER = 1.0  # an offer or a storm relay with no answer or receipt is sent again after this long
WINDOW_TIMEOUT = 5.0  # saturated: a frame not received within this long frees its slot (counted as a stall)
OFFER_EVERY = 10  # one relay in ten is a session description (~3 KB), the others ICE candidates (~250 B)
CHAT_EVERY = 100  # one frame in a hundred is a chat message (each client at most one per CHAT_MIN_GAP)
CHAT_MIN_GAP = 2.0
# Frames the server must answer with an error and survive (the bad-frame trickle).
BAD_FRAMES = (
    ("{not json", ("invalid_json", "invalid_message")),
    (json.dumps({"type": "no_such_frame"}), ("unknown_message_type",)),
    (json.dumps({"type": "relay_ice_candidate", "peer_id": "nobody",
                 "candidate": {"candidate": CANDIDATE_LINE}}), ("peer_not_found",)),
    (json.dumps({"type": "relay_session_description", "peer_id": "nobody",
                 "description": {"type": "offer", "sdp": "not sdp"}}),
     ("invalid_session_description", "peer_not_found")),
)
BAD_CODES = frozenset(code for _, codes in BAD_FRAMES for code in codes)
# The body of a plausible audio-only offer, padded to about 3 KB like a browser's.
SDP_BODY = "".join([
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n",
    "a=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\n",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n",
    "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:bench\r\na=ice-pwd:benchbenchbenchbenchbench\r\n",
    "a=ice-options:trickle\r\n",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n",
    "a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n",
    *(f"a=rtpmap:{pt} opus/48000/2\r\na=rtcp-fb:{pt} transport-cc\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\n"
      for pt in range(96, 126)),
])


# The protocols the load generator speaks: VoiceBot's, and the PeerJS server's (a baseline).
VOICEBOT = "voicebot"
PEERJS = "peerjs"


@dataclass
class Member:
    """One participant of a lobby: where it connects, as whom, and in which protocol."""

    url: str
    session_id: str
    dialect: str = VOICEBOT


@dataclass
class WorkerSpec:
    lobbies: list[list[Member]]
    rate_per_client: float  # relays per second each client sends; 0 saturates (a window of frames in flight)
    seconds: float
    storm: bool = False  # after the relays, every client drops its socket and rejoins
    window: int = 4  # saturated: frames a client may have in flight
    bad_rate: float = 0.0  # bad frames per second from this worker's clients together, while relaying
    chat: bool = True  # one frame in CHAT_EVERY is a chat message
    offers: bool = True  # one relay in OFFER_EVERY is an offer of ~3 KB (else all are ICE candidates)


@dataclass
class Client:
    member: Member
    peers: list[str] = field(default_factory=list)  # the others of its lobby
    earlier: list[str] = field(default_factory=list)  # the others that join before it
    socket: ClientConnection | None = None
    known: set[str] = field(default_factory=set)
    sent_to: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, int] = field(default_factory=dict)
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    # On the current socket: peers it got add_peer for (and no remove_peer since),
    # peers it got participant_updated "connected" and remove_peer for.
    ready: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    # Perfect negotiation as the load generator plays it: the side told
    # should_create_offer sends an offer; the other answers it. A pair is
    # negotiated on a side when that side sent its answer or received one.
    offered: dict[str, float] = field(default_factory=dict)  # peer -> when the offer went out
    negotiated: set[str] = field(default_factory=set)
    storm_from: set[str] = field(default_factory=set)  # peers whose storm relay arrived
    fresh: set[str] = field(default_factory=set)  # peers it got participant_joined for (a new join, not a resume)
    reader: asyncio.Task[None] | None = None
    window: asyncio.Semaphore | None = None  # saturated: free slots for frames in flight
    last_chat: float = 0.0


@dataclass
class Tally:
    sent: int = 0
    received: int = 0
    gaps: int = 0  # a pair's sequence number skipped or went back
    unknown_sender: int = 0  # a relay before its sender's participant_joined
    errors: dict[str, int] = field(default_factory=dict)
    connect_failures: int = 0
    closed_early: int = 0
    chat_sent: int = 0
    chat_received: int = 0  # deliveries: every member of the lobby, the sender too, gets each chat
    bad_sent: int = 0
    bad_answered: int = 0  # bad frames answered with the error they call for
    stalls: int = 0  # saturated: a frame in flight longer than WINDOW_TIMEOUT
    negotiation_resent: int = 0
    storm_misordered: int = 0  # add_peer for a resumed peer without participant_updated and remove_peer first
    storm_errors: dict[str, int] = field(default_factory=dict)
    storming: bool = False
    storm_pairs_relayed: int = 0
    storm_timeouts: int = 0  # participant_left "timeout" seen in the storm (a grace period ran out)
    storm_rejoins: int = 0  # a client's own place given up by the server, joined again
    latencies: array = field(default_factory=lambda: array("d"))
    join_latencies: array = field(default_factory=lambda: array("d"))


def stamp(tag: str) -> str:
    """What a relay carries to be checked: a pair sequence number (or a phase tag) and the send time."""
    return f"{tag} {time.time():.6f}"


def candidate_frame(dialect: str, peer_id: str, tag: str) -> str:
    candidate = {"candidate": CANDIDATE_LINE, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": stamp(tag)}
    if dialect == PEERJS:
        return json.dumps({"type": "CANDIDATE", "dst": peer_id, "payload": {"candidate": candidate}})
    return json.dumps({"type": "relay_ice_candidate", "peer_id": peer_id, "candidate": candidate})


def description_frame(dialect: str, peer_id: str, kind: str, tag: str) -> str:
    description = {"type": kind, "sdp": f"v=0\r\n{SDP_BODY}a=x-bench:{stamp(tag)}\r\n"}
    if dialect == PEERJS:
        return json.dumps({"type": kind.upper(), "dst": peer_id, "payload": {"sdp": description}})
    return json.dumps({"type": "relay_session_description", "peer_id": peer_id, "description": description})


def relay_frame(dialect: str, peer_id: str, seq: int, *, offers: bool) -> str:
    if offers and seq % OFFER_EVERY == 0:
        return description_frame(dialect, peer_id, "offer", str(seq))
    return candidate_frame(dialect, peer_id, str(seq))


def peerjs_frames(client: Client, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """A PeerJS server's message as the VoiceBot frames the reader handles.

    PeerJS has no lobbies: once the server says OPEN, the client treats the
    members of its lobby that joined before it as the roster and offers to
    them (as VoiceBot's add_peer tells a newcomer); a member that joins later
    makes itself known by its offer.
    """
    kind = frame["type"]
    if kind == "OPEN":
        return [{"type": "joined", "participants": [{"session_id": p, "status": "connected"} for p in client.earlier]},
                *({"type": "add_peer", "peer_id": p, "should_create_offer": True} for p in client.earlier)]
    sender = frame.get("src", "")
    if kind == "CANDIDATE":
        return [{"type": "ice_candidate", "peer_id": sender, "candidate": frame["payload"]["candidate"]}]
    if kind in ("OFFER", "ANSWER"):
        description = frame["payload"]["sdp"]
        arrived = []
        if description["type"] == "offer" and sender not in client.known:
            arrived = [{"type": "participant_joined", "participant": {"session_id": sender}},
                       {"type": "add_peer", "peer_id": sender, "should_create_offer": False}]
        return [*arrived, {"type": "session_description", "peer_id": sender, "description": description}]
    return [{"type": "error", "code": f"peerjs_{kind.lower()}"}]


async def send_quietly(client: Client, text: str) -> bool:
    if client.socket is None:
        return False
    try:
        await client.socket.send(text)
    except ConnectionClosed:
        return False
    return True


async def offer(client: Client, peer: str, tally: Tally) -> None:
    if peer in client.offered:
        tally.negotiation_resent += 1
    client.offered[peer] = time.monotonic()
    await send_quietly(client, description_frame(client.member.dialect, peer, "offer", "negotiate"))


async def negotiated(client: Client, peer: str, tally: Tally) -> None:
    client.negotiated.add(peer)
    if tally.storming:
        # The storm's proof that media could flow: a candidate over the new pair.
        await send_quietly(client, candidate_frame(client.member.dialect, peer, "storm"))


def forget_peer(client: Client, peer: str) -> None:
    client.ready.discard(peer)
    client.negotiated.discard(peer)
    client.offered.pop(peer, None)


async def read_frames(client: Client, tally: Tally, measuring: list[bool], by_id: dict[str, Client]) -> None:
    assert client.socket is not None
    try:
        peerjs = client.member.dialect == PEERJS
        async for text in client.socket:
            if peerjs:
                for frame in peerjs_frames(client, json.loads(text)):
                    await handle_frame(client, frame, tally, measuring, by_id)
            else:
                await handle_frame(client, json.loads(text), tally, measuring, by_id)
    except ConnectionClosed:
        tally.closed_early += 1


async def handle_frame(client: Client, frame: dict[str, Any], tally: Tally, measuring: list[bool],
                       by_id: dict[str, Client]) -> None:
    """One frame (in VoiceBot's terms) a client received."""
    kind = frame["type"]
    if kind in ("ice_candidate", "session_description"):
        now = time.time()
        sender = frame["peer_id"]
        if kind == "ice_candidate":
            tag, sent_at = frame["candidate"]["usernameFragment"].split(" ")
            description = None
        else:
            description = frame["description"]["type"]
            tag, sent_at = description_stamp(frame["description"]["sdp"])
        if tag == "negotiate":
            if description == "offer":
                await send_quietly(client, description_frame(client.member.dialect, sender, "answer",
                                                             "negotiate"))
                await negotiated(client, sender, tally)
            elif description == "answer" and sender in client.offered:
                await negotiated(client, sender, tally)
            return
        if tag == "storm":
            if sender not in client.storm_from:
                client.storm_from.add(sender)
                tally.storm_pairs_relayed += 1
            return
        seq = int(tag)
        if sender not in client.known:
            tally.unknown_sender += 1
        if seq != client.last_seen.get(sender, 0) + 1:
            tally.gaps += 1
        client.last_seen[sender] = seq
        tally.received += 1
        origin = by_id.get(sender)
        if origin is not None and origin.window is not None:
            origin.window.release()
        if measuring[0]:
            tally.latencies.append((now - float(sent_at)) * 1000.0)
    elif kind == "chat":
        if frame["text"].startswith("bench "):
            tally.chat_received += 1
    elif kind == "joined":
        client.known.update(p["session_id"] for p in frame["participants"] if p["status"] == "connected")
        client.joined.set()
    elif kind == "participant_joined":
        client.known.add(frame["participant"]["session_id"])
        client.fresh.add(frame["participant"]["session_id"])
    elif kind == "participant_left":
        client.known.discard(frame["session_id"])
        forget_peer(client, frame["session_id"])
        if tally.storming and frame["reason"] == "timeout":
            tally.storm_timeouts += 1
        if frame["session_id"] == client.member.session_id:
            # The server gave this place up (the grace period ran out before the
            # rejoin arrived): join again, as a client does.
            tally.storm_rejoins += 1
            await send_quietly(client, json.dumps({"type": "join"}))
    elif kind == "add_peer":
        peer = frame["peer_id"]
        if (tally.storming and not frame["should_create_offer"] and peer not in client.fresh
                and not (peer in client.updated and peer in client.removed)):
            tally.storm_misordered += 1
        forget_peer(client, peer)
        client.ready.add(peer)
        if frame["should_create_offer"]:
            await offer(client, peer, tally)
    elif kind == "remove_peer":
        client.removed.add(frame["peer_id"])
        forget_peer(client, frame["peer_id"])
    elif kind == "participant_updated":
        peer = frame["participant"]["session_id"]
        if frame["participant"]["status"] == "connected":
            client.known.add(peer)
            client.updated.add(peer)
        else:
            forget_peer(client, peer)
            client.updated.discard(peer)
            client.removed.discard(peer)
    elif kind == "error":
        if measuring[0] and frame["code"] in BAD_CODES:
            tally.bad_answered += 1
            return
        errors = tally.storm_errors if tally.storming else tally.errors
        errors[frame["code"]] = errors.get(frame["code"], 0) + 1
        client.joined.set()  # a refused join must not hang the phase


def description_stamp(sdp: str) -> tuple[str, str]:
    stamp_line = sdp.rsplit("a=x-bench:", 1)[1]
    tag, sent_at = stamp_line.strip().split(" ")
    return tag, sent_at


async def open_client(client: Client, tally: Tally, readers: list[asyncio.Task[None]],
                      measuring: list[bool], gate: asyncio.Semaphore, by_id: dict[str, Client]) -> None:
    async with gate:
        started = time.monotonic()
        try:
            client.socket = await connect(client.member.url, open_timeout=300, max_size=2**20, compression=None)
        except (OSError, asyncio.TimeoutError, ConnectionClosed) as exc:
            tally.connect_failures += 1
            tally.errors[type(exc).__name__] = tally.errors.get(type(exc).__name__, 0) + 1
            return
        client.reader = asyncio.ensure_future(read_frames(client, tally, measuring, by_id))
        readers.append(client.reader)
        if client.member.dialect == VOICEBOT:
            await client.socket.send(json.dumps({"type": "join"}))  # a PeerJS server says OPEN by itself
        try:
            await asyncio.wait_for(client.joined.wait(), 300)
        except asyncio.TimeoutError:
            tally.errors["join_timeout"] = tally.errors.get("join_timeout", 0) + 1
            return
        tally.join_latencies.append((time.monotonic() - started) * 1000.0)


def pairs_negotiated(pairs: list[tuple[Client, Client]]) -> bool:
    return all(b.member.session_id in a.negotiated for a, b in pairs)


async def renegotiate_stalled(pairs: list[tuple[Client, Client]], tally: Tally) -> None:
    """Offer again where an offer went unanswered (it went to a socket the server had not yet seen drop)."""
    now = time.monotonic()
    for a, b in pairs:
        peer = b.member.session_id
        if peer in a.ready and peer not in a.negotiated and now - a.offered.get(peer, now) > RESEND_AFTER:
            await offer(a, peer, tally)


def next_frame(client: Client, spec: WorkerSpec, tally: Tally) -> tuple[str, str | None]:
    """The client's next frame of steady traffic and the peer it is for (None: a chat).

    Mostly relays to its peers round-robin, now and then a chat message.
    """
    due = tally.sent + tally.chat_sent
    now = time.monotonic()
    if spec.chat and due % CHAT_EVERY == CHAT_EVERY - 1 and now - client.last_chat >= CHAT_MIN_GAP:
        client.last_chat = now
        return json.dumps({"type": "chat", "text": f"bench {stamp('chat')}"}), None
    peer = client.peers[sum(client.sent_to.values()) % len(client.peers)]
    seq = client.sent_to.get(peer, 0) + 1
    return relay_frame(client.member.dialect, peer, seq, offers=spec.offers), peer


async def send_steady(clients: list[Client], spec: WorkerSpec, tally: Tally) -> None:
    """Open loop: ``rate_per_client`` frames a second from every client, spread evenly over time."""
    senders = [c for c in clients if c.socket is not None and c.peers]
    if not senders:
        return
    total_rate = spec.rate_per_client * len(senders)
    start = time.monotonic()
    end = start + spec.seconds
    due = 0
    while (now := time.monotonic()) < end:
        target = int((now - start) * total_rate)
        while due < target:
            client = senders[due % len(senders)]
            await send_relay(client, spec, tally)
            due += 1
        await asyncio.sleep(0.005)


async def send_relay(client: Client, spec: WorkerSpec, tally: Tally) -> str | None:
    """Send the client's next frame; the peer it was for (None: a chat, or nothing left)."""
    text, peer = next_frame(client, spec, tally)
    if not await send_quietly(client, text):
        return None
    if peer is None:
        tally.chat_sent += 1
    else:
        client.sent_to[peer] = client.sent_to.get(peer, 0) + 1
        tally.sent += 1
    return peer


async def send_saturated(clients: list[Client], spec: WorkerSpec, tally: Tally) -> None:
    """Closed loop: every client keeps ``window`` relays in flight until ``seconds`` are over."""
    end = time.monotonic() + spec.seconds

    async def pump(client: Client) -> None:
        assert client.window is not None
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(client.window.acquire(), WINDOW_TIMEOUT)
            except asyncio.TimeoutError:
                tally.stalls += 1
            if time.monotonic() >= end:
                break
            if await send_relay(client, spec, tally) is None:  # a chat (or nothing) went out: no slot held
                client.window.release()

    senders = [c for c in clients if c.socket is not None and c.peers]
    for client in senders:
        client.window = asyncio.Semaphore(spec.window)
    await asyncio.gather(*(pump(c) for c in senders))
    for client in senders:
        client.window = None


async def send_bad_frames(clients: list[Client], spec: WorkerSpec, tally: Tally) -> None:
    """A steady trickle of frames the server must refuse, spread over the clients."""
    senders = [c for c in clients if c.socket is not None]
    if not senders or spec.bad_rate <= 0:
        return
    start = time.monotonic()
    end = start + spec.seconds
    due = 0
    while (now := time.monotonic()) < end:
        target = int((now - start) * spec.bad_rate)
        while due < target:
            text, _ = BAD_FRAMES[due % len(BAD_FRAMES)]
            if await send_quietly(senders[due % len(senders)], text):
                tally.bad_sent += 1
            due += 1
        await asyncio.sleep(0.01)


async def run_worker(spec: WorkerSpec, conn: Connection) -> dict[str, Any]:
    tally = Tally()
    measuring = [False]
    clients: list[Client] = []
    for lobby in spec.lobbies:
        for index, member in enumerate(lobby):
            clients.append(Client(member, peers=[m.session_id for m in lobby if m is not member],
                                  earlier=[m.session_id for m in lobby[:index]]))
    by_id = {c.member.session_id: c for c in clients}
    pairs = [(c, by_id[p]) for c in clients for p in c.peers]
    readers: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.monotonic()
    # Clients of a lobby join one after another (so that the roles of
    # perfect negotiation are fixed); lobbies join in parallel.

    async def join_lobby(lobby_clients: list[Client]) -> None:
        for client in lobby_clients:
            await open_client(client, tally, readers, measuring, gate, by_id)

    by_lobby: list[list[Client]] = []
    i = 0
    for lobby in spec.lobbies:
        by_lobby.append(clients[i:i + len(lobby)])
        i += len(lobby)
    try:
        await asyncio.wait_for(asyncio.gather(*(join_lobby(c) for c in by_lobby)), PHASE_TIMEOUT)
    except asyncio.TimeoutError:
        tally.errors["connect_phase_timeout"] = 1
    # Every pair exchanges an offer and an answer before the relays start.
    deadline = time.monotonic() + PHASE_TIMEOUT
    while not pairs_negotiated(pairs) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        await renegotiate_stalled(pairs, tally)
    join_seconds = time.monotonic() - started
    conn.send(("joined", {"clients": sum(c.socket is not None for c in clients), "seconds": join_seconds,
                          "pairs": len(pairs),
                          "pairs_negotiated": sum(b.member.session_id in a.negotiated for a, b in pairs)}))
    # Wait for the runner: every worker joined, the server measured at rest.
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    measuring[0] = True
    steady = send_saturated(clients, spec, tally) if spec.rate_per_client <= 0 else send_steady(clients, spec, tally)
    await asyncio.gather(steady, send_bad_frames(clients, spec, tally))
    deadline = time.monotonic() + DRAIN_TIMEOUT
    lobby_of = {c.member.session_id: len(c.peers) + 1 for c in clients}
    chat_expected = tally.chat_sent and sum(lobby_of.values()) / len(lobby_of) * tally.chat_sent
    while (tally.received < tally.sent or tally.chat_received < chat_expected
           or tally.bad_answered < tally.bad_sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    measuring[0] = False
    drained = tally.received >= tally.sent
    storm = None
    # Tell the runner each phase is over (it reads the server's CPU), and wait
    # for the signal to go on: the relays' CPU leaves out the storm, and
    # neither holds the clients' leaving.
    loop = asyncio.get_running_loop()
    conn.send(("relayed", {"sent": tally.sent, "received": tally.received}))
    if await loop.run_in_executor(None, conn.recv) == "storm":
        storm = await reconnect_storm(clients, pairs, tally, readers, measuring, gate, by_id)
        conn.send(("stormed", {}))
        await loop.run_in_executor(None, conn.recv)
    for client in clients:
        if client.socket is not None:
            # leave, so that a next round does not start beside sockets in their grace period
            if client.member.dialect == VOICEBOT:
                await send_quietly(client, json.dumps({"type": "leave"}))
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
        "chat_sent": tally.chat_sent,
        "chat_received": tally.chat_received,
        "chat_expected": round(chat_expected),
        "bad_sent": tally.bad_sent,
        "bad_answered": tally.bad_answered,
        "stalls": tally.stalls,
        "latencies": tally.latencies.tobytes(),
        "join_latencies": tally.join_latencies.tobytes(),
        "storm": storm,
    }


async def reconnect_storm(clients: list[Client], pairs: list[tuple[Client, Client]], tally: Tally,
                          readers: list[asyncio.Task[None]], measuring: list[bool], gate: asyncio.Semaphore,
                          by_id: dict[str, Client]) -> dict[str, Any]:
    """Every client drops its socket at once, reconnects with the same token and joins again.

    Done when every client has its ``joined``, every pair has exchanged a new
    offer and answer, and a candidate from every client to every peer has
    arrived over the new pair. An offer or a candidate that went to a socket
    the server had not yet seen drop is sent again after ``RESEND_AFTER``
    seconds. Bounded by ``STORM_TIMEOUT``.
    """
    live = [c for c in clients if c.socket is not None]
    live_ids = {c.member.session_id for c in live}
    pairs = [(a, b) for a, b in pairs if a.member.session_id in live_ids and b.member.session_id in live_ids]
    tally.storming = True
    tally.negotiation_resent = 0
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
        for peer in list(client.ready | set(client.offered) | client.negotiated):
            forget_peer(client, peer)
        client.updated.clear()
        client.removed.clear()
        client.storm_from.clear()
        client.fresh.clear()
    tally.storm_pairs_relayed = 0
    reconnects = [asyncio.ensure_future(open_client(c, tally, readers, measuring, gate, by_id)) for c in live]
    candidates_resent = 0
    joined_at = renegotiated_at = None
    deadline = started + STORM_TIMEOUT
    next_sweep = started + RESEND_AFTER
    next_check = started
    done = False
    while (now := time.monotonic()) < deadline:
        if joined_at is None and all(c.joined.is_set() and c.socket is not None for c in live):
            joined_at = now - started
        if renegotiated_at is None and joined_at is not None and now >= next_check:
            next_check = now + 0.1
            if pairs_negotiated(pairs):
                renegotiated_at = now - started
        if tally.storm_pairs_relayed >= len(pairs) and renegotiated_at is not None:
            done = True
            break
        if now >= next_sweep:
            # Once a second: what went to a socket that was already gone goes again.
            next_sweep = now + RESEND_AFTER
            await renegotiate_stalled(pairs, tally)
            for a, b in pairs:
                if b.member.session_id in a.negotiated and a.member.session_id not in b.storm_from:
                    candidates_resent += 1
                    await send_quietly(a, candidate_frame(a.member.dialect, b.member.session_id, "storm"))
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
        "offers_resent": tally.negotiation_resent,
        "relays_resent": candidates_resent,
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
