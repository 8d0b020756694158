"""Relay latency of a quiet lobby, without and with an error storm in another lobby.

Starts a real server (``manage.py serve``) on a free loopback port with its
own SQLite file, joins two participants in a quiet lobby and times relayed
ICE candidates from one to the other (send to receive). Then one client in
another lobby sends bad frames as fast as the server answers them, and the
same relays are timed again. Prints the numbers; asserts nothing.

    .venv/bin/python bench/error_storm.py [--relays 500] [--storm-clients 2]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, path: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def joined(port: int, lobby_id: str, name: str) -> tuple[object, str]:
    session = post(port, "/api/sessions", {"name": name})
    socket_ = await connect(f"ws://127.0.0.1:{port}/ws/lobby/{lobby_id}/?token={session['token']}", max_size=None)
    await socket_.send(json.dumps({"type": "join", "name": name}))
    while (frame := json.loads(await socket_.recv()))["type"] != "joined":
        if frame["type"] == "error":
            raise RuntimeError(f"{name} could not join: {frame['code']}")
    return socket_, session["session_id"]


async def drain(socket_: object, until_type: str) -> None:
    while json.loads(await socket_.recv())["type"] != until_type:
        pass


async def relay_latencies(a: object, b: object, b_id: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await a.send(json.dumps({"type": "relay_ice_candidate", "peer_id": b_id, "candidate": CANDIDATE}))
        await drain(b, "ice_candidate")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def storm(port: int, lobby_id: str, stop: asyncio.Event, sent: list[int], index: int) -> None:
    socket_, _ = await joined(port, lobby_id, f"Storm{index}")
    async with socket_:
        while not stop.is_set():
            for _ in range(50):
                await socket_.send('{"type": "no_such_type"}')
            for _ in range(50):
                await socket_.recv()
            sent[0] += 50


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (f"{label:<24} n={len(samples):<5} mean={statistics.mean(samples):6.2f} ms  p50={pick(0.5):6.2f}  "
            f"p95={pick(0.95):6.2f}  p99={pick(0.99):6.2f}  max={ordered[-1]:6.2f}")


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="voicebot-bench-"))
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voicebot_site.settings", "DEBUG": "0", "SECRET_KEY": "bench",
           "ALLOWED_HOSTS": "127.0.0.1", "VOICEBOT_VAR_DIR": str(folder), "VOICEBOT_PRESENCE_ENABLED": "0",
           "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}", "REDIS_URL": os.environ.get("REDIS_URL", ""),
           "VOICEBOT_BAD_FRAME_LIMIT": "100000000/10 seconds", "VOICEBOT_FRAME_RATE": "100000/1 second",
           "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server = subprocess.Popen([sys.executable, "manage.py", "serve", "--server", "daphne", "--port", str(port),
                               "--no-access-log"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        owner = post(port, "/api/sessions", {"name": "Owner"})
        quiet = post(port, "/api/lobbies", {"name": "Quiet"}, token=owner["token"])["id"]
        stormy = post(port, "/api/lobbies", {"name": "Stormy"}, token=owner["token"])["id"]
        a, _ = await joined(port, quiet, "Ann")
        b, b_id = await joined(port, quiet, "Bob")
        await drain(b, "add_peer")
        await drain(a, "add_peer")
        await relay_latencies(a, b, b_id, 50)  # warm up
        calm = await relay_latencies(a, b, b_id, args.relays)
        stop, sent = asyncio.Event(), [0]
        storms = [asyncio.create_task(storm(port, stormy, stop, sent, i)) for i in range(args.storm_clients)]
        await asyncio.sleep(1.0)
        started, before = time.perf_counter(), sent[0]
        stormy_samples = await relay_latencies(a, b, b_id, args.relays)
        rate = (sent[0] - before) / (time.perf_counter() - started)
        stop.set()
        await asyncio.gather(*storms, return_exceptions=True)
        print(f"server: daphne, {'channels-redis' if env['REDIS_URL'] else 'in-memory layer'}, SQLite; "
              f"{args.storm_clients} storm clients")
        print(summary("relay, no storm", calm))
        print(summary("relay, during storm", stormy_samples))
        print(f"storm: {rate:.0f} bad frames/s answered with an error")
        await a.close()
        await b.close()
        await asyncio.sleep(2)  # let the writer store the last batch
        import sqlite3

        db = sqlite3.connect(folder / "bench.sqlite3")
        count, rows, weights = db.execute(
            "SELECT g.count, COUNT(e.id), SUM(e.weight) FROM errors_errorgroup g JOIN errors_errorevent e "
            "ON e.group_id = g.id WHERE g.code = 'unknown_message_type' GROUP BY g.id").fetchone()
        print(f"stored: group count={count}, event rows={rows}, sum of weights={weights}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relays", type=int, default=500)
    parser.add_argument("--storm-clients", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
