"""Echo-bot benchmark: how many echo bots, in lobbies of four, one bot worker carries.

    sudo .venv/bin/python -m bench.bots --bots 1,2,3,4 --people 4 --seconds 10

Runs inside a loopback-only network namespace (as the bot tests do; needs
root): a server (``manage.py serve``, no worker of its own) and one worker
(``manage.py runbots``), as real processes. For each load it adds lobbies of
``--people`` aiortc participants, each talking all the time (white noise),
each lobby with an echo bot, and measures over ``--seconds``:

- the share of audio frames the worker sent late (more than 20 ms behind
  their schedule), from the worker's own counters;
- the worker's CPU, per bot and per peer connection (from /proc);
- the participants' CPU (this process: they share the machine's cores).

Before the loads it times, ``--start-samples`` times, from ``POST .../bots``
to the first audio of the bot a participant hears (its own tone echoed), and
``--announcer-samples`` times the same for an announcer (its greeting, the
first one of the worker including the loading of the voice).
It prints one JSON line per measurement and a summary line: the most bots
carried with under 1 % of frames late.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bots.tests.rtc_client import RtcParticipant, ToneTrack, api, rms
from bots.tests.stack import BotStack, WorkerProcess, namespaced_stack
from web.tests import netns

LATE_LIMIT = 0.01
CONNECT_DEADLINE = 60.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_stats(stack: BotStack, worker: WorkerProcess) -> dict[str, Any]:
    [(stats,)] = stack.rows("SELECT stats FROM bots_botworker WHERE pid = %s", (worker.pid,))
    return json.loads(stats) if isinstance(stats, str) else stats


async def new_lobby(stack: BotStack, name: str) -> str:
    owner = await asyncio.to_thread(api, stack.server.url, "POST", "/api/sessions", {})
    _, lobby = await asyncio.to_thread(api, stack.server.url, "POST", "/api/lobbies",
                                       {"name": name, "max_participants": 16}, owner[1]["token"])
    return str(lobby["id"])


async def time_to_first_audio(stack: BotStack, samples: int) -> list[float]:
    """Seconds from POST .../bots to the first echo of a participant's tone."""
    times = []
    for n in range(samples):
        track = ToneTrack(800.0)
        person = RtcParticipant(stack.server.url, await new_lobby(stack, f"Start {n}"), f"S{n}", track=track)
        await person.join()
        track.burst(120.0)  # talking from before the bot is asked for
        await asyncio.sleep(0.3)
        asked = time.monotonic()
        status, body = await person.add_bot("echo")
        assert status == 202, body
        bot_id = body["session_id"]
        end = asked + CONNECT_DEADLINE
        while True:
            heard = person.heard.get(bot_id)
            first = heard.first_tone(800.0, asked) if heard else None
            if first is not None:
                times.append(round(first - asked, 3))
                break
            assert time.monotonic() < end, "no audio from the bot"
            await asyncio.sleep(0.02)
        await person.close()
    return times


async def time_to_first_speech(stack: BotStack, samples: int) -> list[float]:
    """Seconds from POST .../bots to the first audible frame of an announcer's greeting."""
    times = []
    for n in range(samples):
        person = RtcParticipant(stack.server.url, await new_lobby(stack, f"Greeting {n}"), f"G{n}")
        await person.join()
        asked = time.monotonic()
        status, body = await person.add_bot("announcer")
        assert status == 202, body
        bot_id = body["session_id"]
        end = asked + CONNECT_DEADLINE
        while True:
            heard = person.heard.get(bot_id)
            first = next((at for at, pcm in heard.frames if rms(pcm) > 0.01), None) if heard else None
            if first is not None:
                times.append(round(first - asked, 3))
                break
            assert time.monotonic() < end, "no audio from the announcer"
            await asyncio.sleep(0.02)
        await person.close()
    return times


async def measure(stack: BotStack, worker: WorkerProcess, bots: int, people: int, seconds: float,
                  crowd: list[list[RtcParticipant]]) -> dict[str, Any]:
    while len(crowd) < bots:
        lobby_id = await new_lobby(stack, f"Load {len(crowd)}")
        group = [RtcParticipant(stack.server.url, lobby_id, f"P{i}", track=ToneTrack(400.0 + 100 * i, noise=True,
                                                                                    amplitude=0.2))
                 for i in range(people)]
        for person in group:
            await person.join()
        status, body = await group[0].add_bot("echo")
        assert status == 202, body
        for person in group:
            await person.wait_for(lambda f: f["type"] == "participant_joined"
                                  and f["participant"]["session_id"] == body["session_id"], deadline=CONNECT_DEADLINE)
        for person in group:
            await person.connected_to(body["session_id"], deadline=CONNECT_DEADLINE)
        crowd.append(group)
    await asyncio.sleep(3.0)  # settle, and let a heartbeat publish fresh counters
    before = await asyncio.to_thread(worker_stats, stack, worker)
    cpu_before, own_before, started = cpu_seconds(worker.pid), own_cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    cpu_after, own_after = cpu_seconds(worker.pid), own_cpu()
    after = await asyncio.to_thread(worker_stats, stack, worker)
    sent = after["frames_sent"] - before["frames_sent"]
    late = after["frames_late"] - before["frames_late"]
    worker_cpu = (cpu_after - cpu_before) / elapsed
    peers = after["peers"]
    return {
        "bots": after["bots"], "peer_connections": peers, "seconds": round(elapsed, 1),
        "frames_sent": sent, "frames_late": late, "late_share": round(late / sent, 4) if sent else None,
        "worker_cpu_cores": round(worker_cpu, 3),
        "cpu_per_bot": round(worker_cpu / max(1, after["bots"]), 3),
        "cpu_per_peer_connection": round(worker_cpu / max(1, peers), 3),
        "participants_cpu_cores": round((own_after - own_before) / elapsed, 3),
    }


async def bench(stack: BotStack, args: argparse.Namespace) -> None:
    print(json.dumps({"machine": {"cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0]}}), flush=True)
    worker = await asyncio.to_thread(stack.worker, capacity=max(args.bots))
    starts = await time_to_first_audio(stack, args.start_samples)
    print(json.dumps({"measure": "post_to_first_audio_seconds", "kind": "echo", "samples": starts,
                      "median": sorted(starts)[len(starts) // 2]}), flush=True)
    if args.announcer_samples:
        spoken = await time_to_first_speech(stack, args.announcer_samples)
        print(json.dumps({"measure": "post_to_first_audio_seconds", "kind": "announcer", "samples": spoken,
                          "median": sorted(spoken)[len(spoken) // 2]}), flush=True)
    crowd: list[list[RtcParticipant]] = []
    carried = 0
    try:
        for bots in sorted(args.bots):
            result = await measure(stack, worker, bots, args.people, args.seconds, crowd)
            print(json.dumps({"measure": "echo_load", "people_per_lobby": args.people, **result}), flush=True)
            if result["late_share"] is not None and result["late_share"] < LATE_LIMIT:
                carried = result["bots"]
            else:
                break
    finally:
        for group in crowd:
            for person in group:
                await person.close()
    print(json.dumps({"summary": "most echo bots one worker carried with under 1 % of frames late",
                      "bots": carried, "people_per_lobby": args.people, "tried": sorted(args.bots),
                      "load_average_1m_after": os.getloadavg()[0]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", default="1,2,3,4", help="Loads to try, in bots (one lobby each), e.g. 1,2,4,6.")
    parser.add_argument("--people", type=int, default=4, help="Participants per lobby (the bot not counted).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Measuring time of each load.")
    parser.add_argument("--start-samples", type=int, default=3, help="Times to time POST .../bots to first audio.")
    parser.add_argument("--announcer-samples", type=int, default=3,
                        help="Times to time POST .../bots to an announcer's first audio (0: none).")
    args = parser.parse_args()
    args.bots = [int(n) for n in str(args.bots).split(",") if n.strip()]
    missing = netns.unavailable_reason()
    if missing:
        raise SystemExit(f"bench.bots runs WebRTC in a loopback-only namespace: {missing}")
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-bench-bots-"))
    with namespaced_stack(workdir, {"VOICEBOT_ERROR_WRITER": "background"}) as stack:
        asyncio.run(bench(stack, args))
    print(json.dumps({"logs": str(workdir)}), flush=True)


if __name__ == "__main__":
    main()
