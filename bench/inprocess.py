"""What relaying a frame costs the project's own code, without an ASGI server: in process, repeatable.

    .venv/bin/python -m bench.inprocess                  # CPU per relay (noisy on a shared machine)
    .venv/bin/python -m bench.inprocess --callgrind      # instructions per relay (repeatable)
    .venv/bin/python -m bench.inprocess --callgrind --tree /tmp/before --tree . --rounds 2
    .venv/bin/python -m bench.inprocess --callgrind --bad     # instructions per answered bad frame

The project's ASGI application (``voicebot_site.asgi``, its middleware and
``LobbyConsumer``) runs on this process's event loop, fed by fake server
sockets: each socket's ``receive`` is an ``asyncio.Queue`` (as uvicorn's is),
a client frame arrives through a loop callback (as from a socket's
``data_received``), and ``send`` takes the frames. ``--pairs`` lobbies of two
join over the real handshake, join frame and database (SQLite in a temporary
file); then in each lobby one participant relays the same ICE candidate to
the other with ``--window`` frames in flight, until ``--relays`` have
arrived. What is measured is the relays alone. With ``--bad`` each sender
sends bad frames instead (the four kinds of ``bench/loadgen.py`` in turn),
each answered with its error frame before the next, so that a bad frame's
cost can be set against a relay's.

What the real benchmark (``bench.run``) measures on top: uvicorn's framing,
its transport's writes, the kernel's sockets, and a load generator that
shares the machine. There, a change of a few percent in the project's code
is lost in run-to-run noise; here, under ``--callgrind`` (valgrind counts the
instructions of the relay loop only, toggled with ``callgrind_control``), it
is not.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.loadgen import BAD_FRAMES

ROOT = Path(__file__).resolve().parent.parent
CANDIDATE = {
    "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.10 54400 typ srflx raddr 10.0.0.5 rport 54400"
                 " generation 0 ufrag abcd network-cost 999",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}
CHILD = "BENCH_INPROCESS_CHILD"  # set in the process that measures
UNDER_CALLGRIND = "BENCH_INPROCESS_CALLGRIND"  # set when that process runs under valgrind


class FakeSocket:
    """One client's socket as an ASGI server would present it to the application."""

    def __init__(self, app: Any, lobby_id: str, session_id: str, token: str, run: Run) -> None:
        self.run = run
        self.session_id = session_id
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # what the application reads
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # what it sent, other than relays
        self.text = ""  # the relay this socket sends
        self.bad = 0  # bad frames it sent (with --bad)
        self.budget = 0  # relays it may still send
        self.sender: FakeSocket | None = None  # the socket whose relays arrive here
        path = f"/ws/lobby/{lobby_id}/"
        scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "query_string": f"token={token}".encode(),
                 "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 50000),
                 "server": ("127.0.0.1", 8000), "scheme": "ws", "subprotocols": [], "asgi": {"version": "3.0"}}
        self.task = asyncio.ensure_future(app(scope, self.received.get, self.send))

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            self.frames.put_nowait({"type": "accepted"})
        elif message["type"] == "websocket.send":
            text = message["text"]
            if text.startswith('{"type":"ice_candidate"') or (self.run.bad and text.startswith('{"type":"error"')):
                self.run.arrived(self)
            else:
                self.frames.put_nowait(orjson.loads(text))

    def arrive(self, text: str) -> None:
        """A client frame, delivered from a loop callback as a server's ``data_received`` would."""
        asyncio.get_running_loop().call_soon(self.received.put_nowait, {"type": "websocket.receive", "text": text})

    def next_frame(self) -> str:
        """The relay, or with --bad the next of the bad frames."""
        if not self.run.bad:
            return self.text
        self.bad += 1
        return BAD_FRAMES[self.bad % len(BAD_FRAMES)][0]

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(self.frames.get(), 10)
            if frame["type"] == kind:
                return frame
            if frame["type"] == "error":
                raise RuntimeError(f"the server refused the bench: {frame}")


class Run:
    def __init__(self, relays: int, bad: bool) -> None:
        self.relays = relays  # frames to measure: relays, or with `bad` answered bad frames
        self.bad = bad
        self.count = 0
        self.done = asyncio.Event()

    def arrived(self, receiver: FakeSocket) -> None:
        self.count += 1
        sender = receiver.sender
        if sender is not None and sender.budget > 0 and self.count < self.relays:
            sender.budget -= 1
            sender.arrive(sender.next_frame())
        if self.count >= self.relays:
            self.done.set()


async def joined_socket(app: Any, lobby_id: str, session_id: str, token: str, run: Run, name: str) -> FakeSocket:
    """A socket through the handshake and the join, as a client makes it."""
    socket = FakeSocket(app, lobby_id, session_id, token, run)
    socket.received.put_nowait({"type": "websocket.connect"})
    await socket.expect("accepted")
    socket.arrive(orjson.dumps({"type": "join", "name": name}).decode())
    await socket.expect("joined")
    return socket


def toggle_callgrind(state: str) -> None:
    """Instructions are counted from "on" to "off" (under --callgrind; otherwise nothing)."""
    if os.environ.get(UNDER_CALLGRIND):
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    # The project's modules load after django.setup() (in main).
    from channels.db import database_sync_to_async  # noqa: PLC0415
    from lobbies import services  # noqa: PLC0415
    from voicebot_site.asgi import application  # noqa: PLC0415

    run = Run(args.relays, args.bad)
    size = args.lobby_size if args.reconnects else 2
    members: list[tuple[str, str, str, FakeSocket]] = []  # (lobby, session, token, its socket)
    senders = []
    for lobby_number in range(args.pairs):
        owner, _ = await database_sync_to_async(services.session_create)()
        lobby = await database_sync_to_async(services.lobby_create)(
            session_id=owner.id, name=f"Bench {lobby_number}", max_participants=max(size, 2))
        sockets = []
        for member in range(size):
            session, token = await database_sync_to_async(services.session_create)(name=f"p{lobby_number}-{member}")
            socket = await joined_socket(application, lobby.id, session.id, token, run, f"p{lobby_number}-{member}")
            members.append((lobby.id, session.id, token, socket))
            sockets.append(socket)
        a, b = sockets[:2]
        a.text = orjson.dumps({"type": "relay_ice_candidate", "peer_id": b.session_id, "candidate": CANDIDATE}).decode()
        if args.bad:
            a.sender = a  # a bad frame's answer comes back to its sender
        else:
            b.sender = a
        senders.append(a)
    await asyncio.sleep(0.5)  # the joins' events have been handled
    if args.reconnects:
        # One socket after another drops (no close handshake, no leave), connects again with its token
        # and joins again (a resume); its peers are told each time. The last peers' events are waited for.
        toggle_callgrind("on")
        cpu, wall = time.process_time(), time.perf_counter()
        for number in range(args.reconnects):
            index = number % len(members)
            lobby_id, session_id, token, socket = members[index]
            socket.received.put_nowait({"type": "websocket.disconnect", "code": 1006})
            await asyncio.wait_for(socket.task, 10)
            socket = await joined_socket(application, lobby_id, session_id, token, run, "again")
            members[index] = (lobby_id, session_id, token, socket)
        await asyncio.sleep(0.2)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        toggle_callgrind("off")
        return {"reconnects": args.reconnects, "lobbies": args.pairs, "lobby_size": size,
                "cpu_us_per_reconnect": round(cpu / args.reconnects * 1e6, 1)}
    toggle_callgrind("on")
    cpu, wall = time.process_time(), time.perf_counter()
    for a in senders:
        a.budget = args.relays
        for _ in range(args.window):
            a.arrive(a.next_frame())
    await asyncio.wait_for(run.done.wait(), 600)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    toggle_callgrind("off")
    kind = "bad_frame" if args.bad else "relay"
    return {kind + "s": run.count, "pairs": args.pairs, "window": args.window,
            f"cpu_us_per_{kind}": round(cpu / run.count * 1e6, 2), f"{kind}s_per_s": round(run.count / wall)}


def child_main(args: argparse.Namespace) -> None:
    """The measurement, in a process of its own whose environment and checkout the parent chose."""
    import django  # noqa: PLC0415 - the settings come from the environment the parent set

    django.setup()
    from django.core.management import call_command  # noqa: PLC0415

    call_command("migrate", verbosity=0)
    try:
        import uvloop  # noqa: PLC0415 - what manage.py serve runs on, where installed

        result = uvloop.run(measure(args))
    except ImportError:
        result = asyncio.run(measure(args))
    print(json.dumps(result), flush=True)


def measure_tree(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run against the checkout ``tree``: its project code, this file's harness."""
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as workdir:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3", "REDIS_URL": "",
               "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-inprocess-" + "x" * 40,
               "VOICEBOT_FRAME_RATE": "100000000/1 second", "VOICEBOT_BAD_FRAME_LIMIT": "100000000/1 second",
               "LOG_LEVEL": "WARNING",
               # The error writer stores once a second, whatever the rate: a cost per second, not per
               # frame, which would make a bad frame's count depend on how long valgrind takes.
               "VOICEBOT_ERROR_WRITER": "manual",
               "DJANGO_SETTINGS_MODULE": "voicebot_site.settings", "PYTHONPATH": str(tree), CHILD: "1"}
        # The harness runs as a script from the temporary directory: a script's own folder comes
        # first on sys.path, and bench/ holds modules named like the project's apps (bench/bots.py).
        harness = Path(workdir) / "voicebot_bench_inprocess.py"
        shutil.copyfile(__file__, harness)
        command = [sys.executable, "-W", "ignore", str(harness), "--relays", str(args.relays),
                   "--pairs", str(args.pairs), "--window", str(args.window),
                   "--reconnects", str(args.reconnects), "--lobby-size", str(args.lobby_size),
                   *(["--bad"] if args.bad else [])]
        out = Path(workdir) / "callgrind.out"
        if args.callgrind:
            env[UNDER_CALLGRIND] = "1"
            command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", *command]
        child = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
        if child.returncode != 0:
            sys.exit(f"the run in {tree} failed:\n{child.stdout}\n{child.stderr[-3000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        if args.callgrind:
            collected = re.search(r"Collected : (\d+)", child.stderr)
            if collected is None:
                sys.exit(f"valgrind reported no count:\n{child.stderr[-3000:]}")
            kind = next(kind for kind in ("relay", "bad_frame", "reconnect") if kind + "s" in result)
            result["instructions_per_" + kind] = round(int(collected.group(1)) / result[kind + "s"])
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relays", type=int, default=None, help="relays to measure (100,000; 5,000 under callgrind)")
    parser.add_argument("--pairs", type=int, default=10, help="lobbies (of two for relays), one sender each")
    parser.add_argument("--window", type=int, default=4, help="relays in flight per sender")
    parser.add_argument("--reconnects", type=int, default=0,
                        help="measure this many reconnects (drop, connect, join again) instead of relays")
    parser.add_argument("--lobby-size", type=int, default=8, help="participants per lobby, with --reconnects")
    parser.add_argument("--bad", action="store_true",
                        help="measure answered bad frames (bench/loadgen.py's four kinds in turn) instead of relays")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument("--tree", action="append", type=Path, default=[],
                        help="a checkout to measure (main before a change); repeatable, this one by default")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each running every tree in turn")
    args = parser.parse_args()
    if args.relays is None:
        args.relays = 5000 if args.callgrind or os.environ.get(UNDER_CALLGRIND) else 100_000
    if os.environ.get(CHILD):
        child_main(args)
        return
    for round_ in range(1, args.rounds + 1):
        for tree in args.tree or [ROOT]:
            result = measure_tree(tree.resolve(), args)
            print(json.dumps({"tree": str(tree), "round": round_, **result}), flush=True)


if __name__ == "__main__":
    main()
