"""Memory and the open-socket count under connect/disconnect churn.

Starts a real server (``manage.py serve``, uvicorn by default, its own SQLite
file) and a lobby where two steady participants toggle their mute all the
time, so that lobby events keep reaching sockets that are closing (20 toggles a
second each). Then
``--concurrency`` clients run ``--cycles`` connect / join / drop cycles in
all: a pool of sessions (so joins resume), every other cycle dropping its
socket right after sending ``join`` without waiting for the answer, each drop
an abrupt close of the TCP connection (no close frame), the race of a
disconnect with an event on its way.

Prints: the server's RSS after the warm-up (``--warmup`` cycles) and at the
end, the growth in between; the ``voicebot_websockets_open`` gauge against
the sockets really open at the server (its established TCP connections on
the port) once the churn is over; and how many participants are still
"connected" after the grace period. Asserts nothing unless ``--check``
(RSS growth under 5 %, gauge equal to the real count, no stale participant).

    .venv/bin/python bench/churn.py [--cycles 20000] [--concurrency 20] [--server uvicorn]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web.tests.live_server import LiveServer, ServerBackends  # noqa: E402

GRACE = 2.0


def post(base: str, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def get(base: str, path: str) -> str:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return response.read().decode()


def gauge(base: str) -> float:
    match = re.search(r"^voicebot_websockets_open(?:\{[^}]*\})? ([0-9.e+]+)$", get(base, "/metrics"), re.M)
    return float(match.group(1)) if match else float("nan")


def server_process(live: LiveServer) -> psutil.Process:
    """The process that serves (manage.py serve runs the server in its own process)."""
    root = psutil.Process(live.process.pid)  # type: ignore[union-attr]
    candidates = [root, *root.children(recursive=True)]
    return max(candidates, key=lambda p: p.memory_info().rss)


def established(process: psutil.Process, port: int) -> int:
    return sum(1 for c in process.net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


async def steady(url: str, name: str, stop: asyncio.Event, drops: list[str]) -> None:
    """A participant that stays (joining again if it is dropped) and toggles its mute, so that events flow."""
    while not stop.is_set():
        try:
            # No keepalive pings: a busy load generator must not drop its own steady sockets.
            async with connect(url, max_size=None, ping_interval=None) as socket:
                await socket.send(json.dumps({"type": "join", "name": name}))
                muted = False
                reader = asyncio.ensure_future(drain(socket))
                while not stop.is_set() and not reader.done():
                    muted = not muted
                    await socket.send(json.dumps({"type": "set_muted", "muted": muted}))
                    await asyncio.sleep(0.05)
                if reader.done() and reader.exception() is not None:
                    raise reader.exception()  # type: ignore[misc]
                reader.cancel()
        except Exception as exc:  # noqa: BLE001 - counted and said; the participant comes back
            if not stop.is_set():
                drops.append(f"{name}: {exc}")
                await asyncio.sleep(0.5)


async def drain(socket: Any) -> None:
    async for _ in socket:
        pass


async def cycle(url: str, name: str, wait_for_joined: bool) -> None:
    socket = await connect(url, max_size=None, open_timeout=20, ping_interval=None)
    try:
        await socket.send(json.dumps({"type": "join", "name": name}))
        if wait_for_joined:
            while json.loads(await asyncio.wait_for(socket.recv(), 20))["type"] not in ("joined", "error"):
                pass
    finally:
        socket.transport.abort()  # the connection drops: no close frame


def failure_reason(exc: BaseException) -> str:
    """A cycle's failure in a few words: the close code the server gave, or the exception's type."""
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return f"closed by the server with {exc.rcvd.code}"
    return type(exc).__name__


async def churn(base: str, port: int, lobby_id: str, sessions: list[dict[str, Any]], cycles: int,
                concurrency: int, done: list[int], failures: Counter[str]) -> None:
    counter = iter(range(cycles))

    async def worker(index: int) -> None:
        for n in counter:
            session = sessions[(n * 7 + index) % len(sessions)]
            url = f"ws://127.0.0.1:{port}/ws/lobby/{lobby_id}/?token={session['token']}"
            try:
                await cycle(url, session["name"], wait_for_joined=n % 2 == 0)
            except (OSError, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - counted, the run goes on
                done[1] += 1
                failures[failure_reason(exc)] += 1
            done[0] += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))


async def main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-churn-"))
    backends = ServerBackends(workdir)
    backends.prepare()
    env = {**backends.open_inside(), "VOICEBOT_SERVER": args.server, "VOICEBOT_SESSION_RATE": "100000/1 minute",
           "VOICEBOT_RECONNECT_GRACE": str(GRACE), "VOICEBOT_FRAME_RATE": "100000/1 second", "LOG_LEVEL": "WARNING"}
    live = LiveServer(env, workdir / "server.log", server=args.server, access_log=False)
    live.start()
    try:
        base = live.url
        owner = post(base, "/api/sessions", {"name": "Owner"})
        lobby = post(base, "/api/lobbies", {"name": "Churn", "max_participants": 16}, token=owner["token"])
        stop = asyncio.Event()
        steady_tasks = []
        drops: list[str] = []
        for name in ("Steady A", "Steady B"):
            session = post(base, "/api/sessions", {"name": name})
            url = f"ws://127.0.0.1:{live.port}/ws/lobby/{lobby['id']}/?token={session['token']}"
            steady_tasks.append(asyncio.ensure_future(steady(url, name, stop, drops)))
        sessions = [{**post(base, "/api/sessions", {}), "name": f"Guest {i}"} for i in range(args.sessions)]
        process = server_process(live)
        done = [0, 0]
        failures: Counter[str] = Counter()
        started = time.monotonic()
        await churn(base, live.port, lobby["id"], sessions, args.warmup, args.concurrency, done, failures)
        await asyncio.sleep(1)
        rss_warm = process.memory_info().rss
        await churn(base, live.port, lobby["id"], sessions, args.cycles, args.concurrency, done, failures)
        elapsed = time.monotonic() - started
        await asyncio.sleep(GRACE + 3)  # the server notices the drops; the grace period ends
        rss_end = process.memory_info().rss
        open_gauge = gauge(base)
        real_open = established(process, live.port)
        detail = json.loads(get(base, f"/api/lobbies/{lobby['id']}"))
        connected = [p["name"] for p in detail["participants"] if p["status"] == "connected"]
        stop.set()
        await asyncio.gather(*steady_tasks, return_exceptions=True)
    finally:
        live.stop()
        backends.close()
    growth = (rss_end - rss_warm) / rss_warm * 100
    print(f"server: {args.server}, in-memory layer, SQLite; {done[0]} connect/join/drop cycles "
          f"({args.warmup} warm-up) by {args.concurrency} clients over {args.sessions} sessions in {elapsed:.1f} s; "
          f"{done[1]} cycles failed on the client side" + (f" ({dict(failures.most_common())})" if failures else ""))
    print(f"RSS after warm-up {rss_warm / 2**20:.1f} MiB, at the end {rss_end / 2**20:.1f} MiB: {growth:+.1f} %")
    print(f"open-socket gauge {open_gauge:.0f}, sockets really open at the server {real_open} "
          f"(2 of them the steady participants)")
    print(f"participants still connected after the grace period: {len(connected)} "
          f"({', '.join(sorted(connected))})")
    print(f"the steady participants' sockets were dropped {len(drops)} times"
          + (f" (first: {drops[0]})" if drops else ""))
    if args.check:
        ok = growth < 5 and open_gauge == real_open and sorted(connected) == ["Steady A", "Steady B"]
        print("check:", "passed" if ok else "FAILED")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20_000)
    # Long enough for what lives a minute (the in-memory layer's message expiry) to reach its level.
    parser.add_argument("--warmup", type=int, default=8_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every target is met")
    sys.exit(asyncio.run(main(parser.parse_args())))
