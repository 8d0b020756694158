"""What wrong lobby passwords cost everyone else.

Starts a real server (``manage.py serve``, uvicorn by default, its own SQLite
file, Django's real PBKDF2 hasher) with two lobbies. In the quiet one, a
participant times ``set_muted`` (send, until its own ``participant_updated``
comes back) ``--samples`` times while nothing else happens, then again while
``--attackers`` sockets, each with its own session, send wrong-password
``join``s to the other lobby as fast as they are answered. Runs twice: with
the default limits on wrong passwords, and with them lifted (skipped with
``--only-defaults``), which shows what the password thread alone does.
Prints p50 and p95 of each and the ratio to idle; asserts nothing unless
``--check`` (p50 under attack within 2x of idle in every run).

    .venv/bin/python bench/password_cost.py [--attackers 10] [--samples 300] [--server uvicorn]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web.tests.live_server import LiveServer, ServerBackends  # noqa: E402


def post(base: str, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def timed_mutes(url: str, samples: int) -> list[float]:
    """Milliseconds from each set_muted to this socket's own participant_updated."""
    took = []
    async with connect(url, max_size=None) as socket:
        await socket.send(json.dumps({"type": "join", "name": "Quiet"}))
        while json.loads(await socket.recv())["type"] != "joined":
            pass
        muted = False
        for _ in range(samples):
            muted = not muted
            started = time.perf_counter()
            await socket.send(json.dumps({"type": "set_muted", "muted": muted}))
            while True:
                frame = json.loads(await socket.recv())
                if frame["type"] == "participant_updated" and frame["participant"]["muted"] is muted:
                    break
            took.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)
    return took


async def attacker(url: str, stop: asyncio.Event, answers: dict[str, int]) -> None:
    async with connect(url, max_size=None) as socket:
        n = 0
        while not stop.is_set():
            n += 1
            await socket.send(json.dumps({"type": "join", "name": f"Guess {n}", "password": f"guess {n}"}))
            frame = json.loads(await socket.recv())
            answers[frame.get("code", frame["type"])] = answers.get(frame.get("code", frame["type"]), 0) + 1
            if frame.get("code") == "policy_violation":
                return


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def run(args: argparse.Namespace, limits: bool) -> tuple[float, float]:
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-passwords-"))
    backends = ServerBackends(workdir)
    backends.prepare()
    env = {**backends.open_inside(), "VOICEBOT_SERVER": args.server, "VOICEBOT_SESSION_RATE": "100000/1 minute",
           "LOG_LEVEL": "WARNING",
           # Wrong passwords are bad frames; the attackers must not be closed for them.
           "VOICEBOT_BAD_FRAME_LIMIT": "1000000/1 second"}
    if not limits:
        env.update(VOICEBOT_PASSWORD_RATE="1000000/1 second", VOICEBOT_PASSWORD_ADDRESS_RATE="1000000/1 second")
    live = LiveServer(env, workdir / "server.log", server=args.server, access_log=False)
    live.start()
    try:
        base = live.url
        owner = post(base, "/api/sessions", {})
        quiet = post(base, "/api/lobbies", {"name": "Quiet"}, token=owner["token"])
        target = post(base, "/api/lobbies", {"name": "Guarded", "password": "the right one"}, token=owner["token"])
        ws = f"ws://127.0.0.1:{live.port}/ws/lobby"
        listener = post(base, "/api/sessions", {})
        quiet_url = f"{ws}/{quiet['id']}/?token={listener['token']}"
        idle = await timed_mutes(quiet_url, args.samples)
        stop = asyncio.Event()
        answers: dict[str, int] = {}
        attackers = [
            asyncio.ensure_future(attacker(f"{ws}/{target['id']}/?token={post(base, '/api/sessions', {})['token']}",
                                           stop, answers))
            for _ in range(args.attackers)
        ]
        await asyncio.sleep(1)
        attacked = await timed_mutes(quiet_url, args.samples)
        stop.set()
        await asyncio.gather(*attackers, return_exceptions=True)
    finally:
        live.stop()
        backends.close()
    p50_idle, p50_attacked = statistics.median(idle), statistics.median(attacked)
    print(f"{'default limits' if limits else 'limits lifted '}: set_muted p50 {p50_idle:.2f} ms idle, "
          f"{p50_attacked:.2f} ms under attack ({p50_attacked / p50_idle:.2f}x); "
          f"p95 {percentile(idle, 95):.2f} / {percentile(attacked, 95):.2f} ms; attackers were answered {answers}")
    return p50_idle, p50_attacked


async def main(args: argparse.Namespace) -> int:
    print(f"server: {args.server}, in-memory layer, SQLite, PBKDF2 (Django's default hasher); "
          f"{args.attackers} attacking sockets, {args.samples} set_muted per measurement")
    runs = [await run(args, limits=True)]
    if not args.only_defaults:
        runs.append(await run(args, limits=False))
    if args.check:
        ok = all(attacked <= 2 * idle for idle, attacked in runs)
        print("check:", "passed" if ok else "FAILED")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=10)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--only-defaults", action="store_true", help="skip the run with the limits lifted")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every target is met")
    sys.exit(asyncio.run(main(parser.parse_args())))
