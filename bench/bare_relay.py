"""The bare relay: what the benchmark compares the server against.

A plain asyncio ``websockets`` server, no Django, no database, lobbies in memory.
It speaks the part of the protocol the load generator uses: ``join`` (answered
with ``joined``, ``participant_joined`` and ``add_peer`` as the server does; a
second join of the same session is a resume: the others get
``participant_updated``, ``remove_peer``, ``add_peer``), ``leave``, the relays
(``relay_ice_candidate`` and ``relay_session_description``, parsed, then
re-serialized to the named peer of the same lobby), ``chat`` (to every member,
the sender too), and an ``error`` for a frame it cannot read, an unknown type
or an unknown peer. It validates nothing else and trusts the token as the
session id.

    python -m bench.bare_relay --port 8765
"""
from __future__ import annotations

import argparse
import asyncio
import json
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

# lobby id -> session id -> its open socket, or None while it is away
lobbies: dict[str, dict[str, ServerConnection | None]] = {}
# relay frame -> the field it forwards (the peer gets the frame named without "relay_")
RELAYS = {"relay_ice_candidate": "candidate", "relay_session_description": "description"}


def participant(session_id: str) -> dict[str, object]:
    return {"session_id": session_id, "name": session_id, "is_bot": False, "muted": False, "status": "connected"}


async def send(sock: ServerConnection, frame: dict[str, object]) -> None:
    try:
        await sock.send(json.dumps(frame))
    except ConnectionClosed:
        pass  # that peer is going away; its own handler cleans up


def error(code: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": code, "retryable": False})


async def handle(ws: ServerConnection) -> None:
    url = urlsplit(ws.request.path)
    lobby_id = url.path.strip("/").split("/")[-1]
    me = parse_qs(url.query).get("token", [""])[0]
    members = lobbies.setdefault(lobby_id, {})
    try:
        async for text in ws:
            try:
                frame = json.loads(text)
                kind = frame["type"]
            except (ValueError, KeyError, TypeError):
                await ws.send(error("invalid_json"))
                continue
            if kind in RELAYS:
                peer = members.get(frame.get("peer_id")) if me in members else None
                if peer is None or frame["peer_id"] == me:
                    await ws.send(error("peer_not_found"))
                    continue
                field = RELAYS[kind]
                await send(peer, {"type": kind[len("relay_"):], "peer_id": me, field: frame[field]})
            elif kind == "chat":
                message = {"type": "chat", "session_id": me, "name": me, "text": frame["text"]}
                for sock in list(members.values()):
                    if sock is not None:
                        await send(sock, message)
            elif kind == "join":
                resumed = me in members
                others = {sid: sock for sid, sock in members.items() if sid != me and sock is not None}
                members[me] = ws
                await ws.send(json.dumps({"type": "joined", "lobby": {"id": lobby_id}, "self": participant(me),
                                          "participants": [participant(sid) for sid in others],
                                          "chat_history": [], "in_reply_to": frame.get("id")}))
                for sid in others:
                    await send(ws, {"type": "add_peer", "peer_id": sid, "should_create_offer": True, "polite": False})
                for sock in others.values():
                    if resumed:
                        await send(sock, {"type": "participant_updated", "participant": participant(me)})
                        await send(sock, {"type": "remove_peer", "peer_id": me})
                    else:
                        await send(sock, {"type": "participant_joined", "participant": participant(me)})
                    await send(sock, {"type": "add_peer", "peer_id": me, "should_create_offer": False, "polite": True})
            elif kind == "leave":
                members.pop(me, None)
            else:
                await ws.send(error("unknown_message_type"))
    except ConnectionClosed:
        pass
    finally:
        if members.get(me) is ws:
            members[me] = None  # away: keeps its seat, gets no relays


async def main(port: int) -> None:
    async with serve(handle, "127.0.0.1", port, max_size=2**16, compression=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
