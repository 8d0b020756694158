"""The ASGI floor: the bare relay's protocol as a plain ASGI app, under the server ``manage.py serve`` runs.

What a relay costs in the ASGI server itself (its WebSocket parsing and
framing, its receive queue and send, the event loop): the app does as little
as a relay can, under the same server with the same settings as
``manage.py serve`` (uvicorn: uvloop, httptools, websockets-sansio, no
deflate; granian: its ASGI interface, one worker). It speaks what
``bench/bare_relay.py`` speaks (``join``, the two relays, ``chat``,
``leave``), parses each frame with orjson, builds the peer's frame and hands
it straight to the peer's ``send``: no validation, no queue of its own, no
Django. It trusts the token as the session id. VoiceBot cannot relay for
less CPU under the same server, so the benchmark prints it as the floor.

    python -m bench.asgi_relay --port 8766 --server uvicorn
"""
from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

Send = Callable[[dict[str, Any]], Awaitable[None]]

# lobby id -> session id -> its socket's send, or None while it is away
lobbies: dict[str, dict[str, Send | None]] = {}
RELAYS = {"relay_ice_candidate": "candidate", "relay_session_description": "description"}


def participant(session_id: str) -> dict[str, object]:
    return {"session_id": session_id, "name": session_id, "is_bot": False, "muted": False, "status": "connected"}


async def send_frame(send: Send, frame: dict[str, Any]) -> None:
    try:
        await send({"type": "websocket.send", "text": orjson.dumps(frame).decode()})
    except (OSError, RuntimeError):
        pass  # that peer is going away; its own handler cleans up


def error(code: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": code, "retryable": False}


async def lifespan(receive: Any, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    lobby_id = scope["path"].strip("/").split("/")[-1]
    me = parse_qs(scope["query_string"].decode()).get("token", [""])[0]
    members = lobbies.setdefault(lobby_id, {})
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = orjson.loads(message.get("text") or b"")
                kind = frame["type"]
            except (ValueError, KeyError, TypeError):
                await send_frame(send, error("invalid_json"))
                continue
            if kind in RELAYS:
                peer = members.get(frame.get("peer_id")) if me in members else None
                if peer is None or frame["peer_id"] == me:
                    await send_frame(send, error("peer_not_found"))
                    continue
                field = RELAYS[kind]
                await send_frame(peer, {"type": kind[len("relay_"):], "peer_id": me, field: frame[field]})
            elif kind == "chat":
                chat = {"type": "chat", "session_id": me, "name": me, "text": frame["text"]}
                for other in list(members.values()):
                    if other is not None:
                        await send_frame(other, chat)
            elif kind == "join":
                resumed = me in members
                others = {sid: s for sid, s in members.items() if sid != me and s is not None}
                members[me] = send
                await send_frame(send, {"type": "joined", "lobby": {"id": lobby_id}, "self": participant(me),
                                        "participants": [participant(sid) for sid in others],
                                        "chat_history": [], "in_reply_to": frame.get("id")})
                for sid in others:
                    await send_frame(send, {"type": "add_peer", "peer_id": sid, "should_create_offer": True,
                                            "polite": False})
                for other in others.values():
                    if resumed:
                        await send_frame(other, {"type": "participant_updated", "participant": participant(me)})
                        await send_frame(other, {"type": "remove_peer", "peer_id": me})
                    else:
                        await send_frame(other, {"type": "participant_joined", "participant": participant(me)})
                    await send_frame(other, {"type": "add_peer", "peer_id": me, "should_create_offer": False,
                                             "polite": True})
            elif kind == "leave":
                members.pop(me, None)
            else:
                await send_frame(send, error("unknown_message_type"))
    finally:
        if members.get(me) is send:
            members[me] = None  # away: keeps its seat, gets no relays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    args = parser.parse_args()
    if args.server == "uvicorn":
        import uvicorn

        uvicorn.run("bench.asgi_relay:app", host="127.0.0.1", port=args.port, lifespan="on",
                    ws="websockets-sansio", ws_max_size=2**20, ws_per_message_deflate=False,
                    access_log=False, log_level="warning", server_header=False)
    else:
        from granian.constants import Interfaces
        from granian.server import Server

        Server("bench.asgi_relay:app", address="127.0.0.1", port=args.port, interface=Interfaces.ASGI,
               workers=1, log_enabled=False).serve()


if __name__ == "__main__":
    main()
