"""Relay benchmark: real server processes, thousands of WebSocket clients, numbers printed.

    .venv/bin/python -m bench.run --server uvicorn --clients 200 --rate 2000 --seconds 10
    .venv/bin/python -m bench.run --server uvicorn --processes 2 --clients 10000 --rate 1000

Each run gets a database of its own (an SQLite file, or a fresh database on
DATABASE_URL's Postgres) and a channel-layer prefix of its own; with more than
one server process (or ``--redis``) the processes share REDIS_URL's Redis, or
a redis-server started for the run. Sessions and lobbies are written straight
into that database; clients then connect and join through the server like
any client (lobby members spread over the processes round-robin), every pair
exchanges an offer and an answer, and then the clients relay to their peers
at ``--rate`` frames a second in all for ``--seconds`` (nine in ten ICE
candidates of ~250 B, one in ten offers of ~3 KB, and a chat message now and
then). ``--rate 0`` saturates instead: each client keeps ``--window`` relays
in flight. ``--bad-rate`` adds a trickle of frames the server must refuse.
The run prints one JSON line: join times, the servers' memory and CPU
(the relays', the storm's and the clients' leaving, each read apart),
relay latency percentiles, and what was lost or out of order. ``--check``
makes the exit status say whether anything was lost.

``--baseline`` runs the same load against ``bench/bare_relay.py`` (a plain
websockets relay), and ``--peerjs`` against the PeerJS server (npm ``peer``,
Node.js; the load generator speaks its protocol), in the same run,
interleaved with the server over ``--rounds``; a table of medians follows
with the ratios of the server to each baseline. PeerJS has no lobbies and no
chat, so ``--peerjs`` relays ICE candidates only (``--candidates-only``), for
every server of the run alike. ``--floor uvicorn`` (or ``granian``) runs it
against ``bench/asgi_relay.py``, a relay that does next to nothing under that
ASGI server: the floor of what a relay can cost under it. ``--compare
LABEL=PATH`` runs the server from another checkout too (main before a
change), interleaved, so that before and after meet the same machine.
``--reconnect-storm`` then has every client drop its socket at once and
rejoin, and times until every pair is renegotiated and relays again.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any, Callable

import psutil

from bench.loadgen import PEERJS, VOICEBOT, Member, WorkerSpec, worker_main
from bench.servers import ASGIRelayProcess, BareRelayProcess, PeerJSProcess, RedisServer
from web.tests.live_server import BASE_DIR, LiveServer, ServerBackends

SERVERS = ("uvicorn", "daphne")  # what manage.py serve runs (granian: only --floor, see BENCHMARKS.md)
RESULT_TIMEOUT = 900.0
STALE_TIMEOUT = 30.0
REST_SECONDS = 2.0


def percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def seed(env: dict[str, str], clients: int, lobby_size: int) -> list[list[tuple[str, str, str]]]:
    """Sessions and lobbies in the server's database: [[(lobby_id, session_id, token), ...], ...]."""
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DATABASE_URL", "SECRET_KEY", "DJANGO_",
                                                                      "VOICEBOT_VAR_DIR", "DEBUG"))})
    import django

    django.setup()
    from django.db import transaction

    from lobbies import services

    lobbies: list[list[tuple[str, str, str]]] = []
    with transaction.atomic():
        for first in range(0, clients, lobby_size):
            owner, _ = services.session_create()
            size = min(lobby_size, clients - first)
            lobby = services.lobby_create(session_id=owner.id, name=f"Bench {first // lobby_size}",
                                          max_participants=max(size, 2))
            members = []
            for n in range(first, first + size):
                session, token = services.session_create(name=f"c{n}")
                members.append((lobby.id, session.id, token))
            lobbies.append(members)
    return lobbies


def stale_group_members(redis_url: str, prefix: str, timeout: float = STALE_TIMEOUT) -> tuple[int, float]:
    """Members left in the run's Redis groups after every client has gone, and how long they took to go.

    Waits until none is left or ``timeout`` passes (sockets close asynchronously).
    """
    import redis

    started = time.monotonic()
    client = redis.Redis.from_url(redis_url)
    try:
        while True:
            members = sum(client.zcard(key) for key in client.scan_iter(f"{prefix}:group:*", count=1000))
            waited = time.monotonic() - started
            if members == 0 or waited >= timeout:
                return members, round(waited, 2)
            time.sleep(0.2)
    finally:
        client.close()


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def stop_workers(workers: list[tuple[multiprocessing.Process, Any]]) -> None:
    for process, conn in workers:
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(10)
        conn.close()
    workers.clear()


def phase_run(workers: list[tuple[multiprocessing.Process, Any]], tree: list[psutil.Process], command: str,
              reply: str) -> tuple[float, list[Any]]:
    """``command`` to every worker, then each one's ``reply``: the servers' CPU seconds meanwhile, and the replies."""
    cpu = cpu_seconds(tree)
    for _, conn in workers:
        conn.send(command)
    replies = [receive(conn, reply) for _, conn in workers]
    return cpu_seconds(tree) - cpu, replies


def drive(args: argparse.Namespace, lobbies: list[list[tuple[str, str, str]]], url: Callable[[int, str, str], str],
          tree: list[psutil.Process], workers: list[tuple[multiprocessing.Process, Any]],
          idle_rss: int, dialect: str = VOICEBOT) -> dict[str, Any]:
    """One load phase: workers connect and join every lobby through ``url``, rest, relay, report."""
    specs: list[list[list[Member]]] = [[] for _ in range(args.workers)]
    for index, lobby in enumerate(lobbies):
        members = [Member(url=url(n, lobby_id, token), session_id=session_id, dialect=dialect)
                   for n, (lobby_id, session_id, token) in enumerate(lobby)]
        specs[index % args.workers].append(members)
    rate_per_client = args.rate / args.clients  # 0: saturated
    context = multiprocessing.get_context("spawn")
    for lobby_specs in specs:
        parent, child = context.Pipe()
        process = context.Process(target=worker_main,
                                  args=(WorkerSpec(lobby_specs, rate_per_client, args.seconds,
                                                   storm=args.reconnect_storm, window=args.window,
                                                   bad_rate=args.bad_rate / args.workers,
                                                   chat=not args.candidates_only,
                                                   offers=not args.candidates_only), child),
                                  daemon=True)
        process.start()
        workers.append((process, parent))

    progress("clients connecting and joining")
    joined = [receive(conn, "joined") for _, conn in workers]
    progress(f"{sum(j['clients'] for j in joined)} clients joined; relaying for {args.seconds:g} s")
    rest_cpu = cpu_seconds(tree)
    time.sleep(REST_SECONDS)
    rest_cpu = cpu_seconds(tree) - rest_cpu
    rss = sum(p.memory_info().rss for p in tree)
    # Each phase ends when every worker says so, before the next starts: the
    # relays' CPU holds neither the storm nor the clients' leaving.
    relay_started = time.monotonic()
    relay_cpu, _ = phase_run(workers, tree, "go", "relayed")
    relay_wall = time.monotonic() - relay_started
    storm_cpu = None
    if args.reconnect_storm:
        progress("reconnect storm: every client drops its socket and rejoins")
        storm_cpu, _ = phase_run(workers, tree, "storm", "stormed")
        progress("reconnect storm over")
    progress("clients leaving")
    leave_cpu, results = phase_run(workers, tree, "leave", "done")
    stop_workers(workers)
    return {"joined": joined, "results": results, "rest_cpu": rest_cpu, "rss": rss, "idle_rss": idle_rss,
            "relay_cpu": relay_cpu, "relay_wall": relay_wall, "storm_cpu": storm_cpu, "leave_cpu": leave_cpu}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-bench-"))
    backends = ServerBackends(workdir)
    redis_server: RedisServer | None = None
    servers: list[LiveServer] = []
    baselines: list[BareRelayProcess] = []
    workers: list[tuple[multiprocessing.Process, Any]] = []
    try:
        backends.prepare()
        backends_env = {"DATABASE_URL": backends.server_database_url}
        if args.processes > 1 or args.redis:
            if backends.redis_url:
                backends_env["REDIS_URL"] = backends.redis_url
            else:
                redis_server = RedisServer(workdir)
                redis_server.start()
                backends_env["REDIS_URL"] = redis_server.url
        env = backends.env(backends_env)
        env["VOICEBOT_HEARTBEAT_INTERVAL"] = "5"
        env["VOICEBOT_REDIS_LAYER"] = args.redis_layer
        # The bench's clients come from one address and send steadily.
        env["VOICEBOT_SESSION_RATE"] = "1000000/1 minute"
        # The VoiceBot servers of the run: this checkout's (or --source's) and, with
        # each --compare, the same server from another checkout (e.g. main before a change).
        compare_server = args.compare_server or args.server
        variants: list[tuple[str, str, str, list[LiveServer]]] = [
            (f"{args.server} ({args.label})" if args.label else args.server, args.server, args.source, [])]
        for label, source in args.compare:
            variants.append((f"{compare_server} ({label})", compare_server, source, []))
        for _, server_kind, source, group in variants:
            progress(f"starting {args.processes} {server_kind} process(es) from {source}")
            for n in range(args.processes):
                server = LiveServer(env, workdir / f"server-{len(servers)}.log", server=server_kind,
                                    source=Path(source), access_log=False)
                servers.append(server)
                group.append(server)
                server.start()
        if args.baseline:
            baselines.append(BareRelayProcess(workdir / "bare-relay.log"))
        if args.peerjs:
            baselines.append(PeerJSProcess(workdir / "peerjs.log"))
        for floor_server in args.floor:
            baselines.append(ASGIRelayProcess(workdir / f"asgi-floor-{floor_server}.log", floor_server))
        for baseline in baselines:
            baseline.start()

        trees = [[p for server in group if server.process for p in process_tree(server.process.pid)]
                 for _, _, _, group in variants]
        # Memory before any client, for the memory a connection adds.
        idle = [sum(p.memory_info().rss for p in tree) for tree in trees]
        baseline_trees = [process_tree(b.process.pid) if b.process is not None else [] for b in baselines]
        baseline_idle = [sum(p.memory_info().rss for p in t) for t in baseline_trees]
        results = []
        # Rounds interleave them: server, compared servers, bare relay, PeerJS, floor, server, ...
        # Each VoiceBot server has lobbies and sessions of its own in each round. Each round starts
        # with the next VoiceBot server (A B, then B A): with a fixed order the first server of a round
        # ran the slower storm in 5 of 6 rounds here (by up to 40 %), which charged it to one of them.
        measured = list(zip(variants, trees, idle, strict=True))
        for round_no in range(1, args.rounds + 1):
            first = (round_no - 1) % len(measured)
            for (label, _, source, group), tree, idle_rss in measured[first:] + measured[:first]:
                progress(f"round {round_no} of {args.rounds}: seeding {args.clients} sessions for {label}")
                lobbies = seed(env, args.clients, args.lobby_size)

                def server_url(n: int, lobby_id: str, token: str, group: list[LiveServer] = group) -> str:
                    return f"ws://127.0.0.1:{group[n % len(group)].port}/ws/lobby/{lobby_id}/?token={token}"

                result = summarize(args, label, drive(args, lobbies, server_url, tree, workers, idle_rss))
                if "REDIS_URL" in backends_env and args.redis_layer == "queues":
                    # Every client left or dropped: no group may keep a member.
                    stale, waited = stale_group_members(backends_env["REDIS_URL"], env["VOICEBOT_CHANNEL_PREFIX"])
                    result.update({"stale_group_members": stale, "stale_group_members_waited_s": waited})
                result.update({
                    "round": round_no,
                    "source": "this checkout" if Path(source).resolve() == BASE_DIR else str(source),
                    "processes": args.processes,
                    "channel_layer": f"redis ({args.redis_layer})" if "REDIS_URL" in backends_env else "in-memory",
                    "database": "postgres" if backends.postgres_name else "sqlite",
                })
                results.append(result)
            for baseline, baseline_tree, baseline_rss in zip(baselines, baseline_trees, baseline_idle, strict=True):
                results.append(baseline_round(args, baseline, lobbies, baseline_tree, workers, baseline_rss,
                                              round_no))
    finally:
        stop_workers(workers)
        for baseline in baselines:
            baseline.stop()
        for server in servers:
            server.stop()
        if redis_server is not None:
            redis_server.stop()
        backends.close()
        if args.keep:
            print(f"bench: server logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    return results


def baseline_round(args: argparse.Namespace, baseline: BareRelayProcess, lobbies: list[list[tuple[str, str, str]]],
                   tree: list[psutil.Process], workers: list[tuple[multiprocessing.Process, Any]], idle_rss: int,
                   round_no: int) -> dict[str, Any]:
    """The round's load against a baseline: the same lobbies and sessions (a baseline trusts the token as the
    session id; PeerJS knows no lobby, only the peers the load generator relays to)."""
    progress(f"round {round_no}: the same load against {baseline.server} on port {baseline.port}")
    plain = [[(lobby_id, session_id, session_id) for lobby_id, session_id, _ in lobby] for lobby in lobbies]
    if isinstance(baseline, PeerJSProcess):
        def url(n: int, lobby_id: str, session_id: str) -> str:
            return f"ws://127.0.0.1:{baseline.port}/peerjs?key=peerjs&id={session_id}&token={session_id[:8]}"

        label, source, dialect = "PeerJS server 1.0.2 (Node.js)", "bench/package.json (npm peer)", PEERJS
    elif isinstance(baseline, ASGIRelayProcess):
        def url(n: int, lobby_id: str, session_id: str) -> str:
            return f"ws://127.0.0.1:{baseline.port}/ws/lobby/{lobby_id}/?token={session_id}"

        label, source, dialect = f"ASGI floor ({baseline.asgi_server})", "bench/asgi_relay.py", VOICEBOT
    else:
        def url(n: int, lobby_id: str, session_id: str) -> str:
            return f"ws://127.0.0.1:{baseline.port}/ws/lobby/{lobby_id}/?token={session_id}"

        label, source, dialect = "bare websockets relay", "bench/bare_relay.py", VOICEBOT
    result = summarize(args, label, drive(args, plain, url, tree, workers, idle_rss, dialect))
    result.update({"round": round_no, "source": source, "processes": 1, "channel_layer": "none", "database": "none"})
    return result


def summarize(args: argparse.Namespace, label: str, phase: dict[str, Any]) -> dict[str, Any]:
    joined, results, rest_cpu, rss = phase["joined"], phase["results"], phase["rest_cpu"], phase["rss"]
    relay_cpu, relay_wall = phase["relay_cpu"], phase["relay_wall"]
    latencies = array("d")
    join_latencies = array("d")
    errors: dict[str, int] = {}
    for result in results:
        latencies.frombytes(result["latencies"])
        join_latencies.frombytes(result["join_latencies"])
        for code, count in result["errors"].items():
            errors[code] = errors.get(code, 0) + count
    ordered = sorted(latencies)
    join_ordered = sorted(join_latencies)
    sent = sum(r["sent"] for r in results)
    received = sum(r["received"] for r in results)
    storms = [r["storm"] for r in results if r.get("storm")]
    return {
        "server": label,
        "clients": args.clients,
        "clients_joined": sum(j["clients"] for j in joined),
        "lobby_size": args.lobby_size,
        "join_seconds": round(max(j["seconds"] for j in joined), 2),
        "join_ms_p50": percentile(join_ordered, 0.50),
        "join_ms_p99": percentile(join_ordered, 0.99),
        "pairs": sum(j["pairs"] for j in joined),
        "pairs_negotiated": sum(j["pairs_negotiated"] for j in joined),
        "server_rss_mb": round(rss / 2**20, 1),
        "server_rss_kb_per_client": round(rss / 1024 / max(1, args.clients), 1),
        "server_cpu_at_rest_pct": round(100 * rest_cpu / REST_SECONDS, 1),
        "rate_asked": args.rate or "saturated",
        "window": args.window if not args.rate else None,
        "seconds": args.seconds,
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "gaps": sum(r["gaps"] for r in results),
        "unknown_sender": sum(r["unknown_sender"] for r in results),
        "errors": errors,
        "chat_sent": sum(r["chat_sent"] for r in results),
        "chat_lost": sum(r["chat_expected"] - r["chat_received"] for r in results),
        "bad_rate_asked": args.bad_rate,
        "bad_sent": sum(r["bad_sent"] for r in results),
        "bad_unanswered": sum(r["bad_sent"] - r["bad_answered"] for r in results),
        "stalls": sum(r["stalls"] for r in results),
        "closed_early": sum(r["closed_early"] for r in results),
        "relayed_per_s": round(received / args.seconds, 1),
        "server_cpu_relaying_pct": round(100 * relay_cpu / relay_wall, 1),
        "latency_ms_p50": percentile(ordered, 0.50),
        "latency_ms_p90": percentile(ordered, 0.90),
        "latency_ms_p99": percentile(ordered, 0.99),
        "latency_ms_max": round(ordered[-1], 2) if ordered else None,
        "server_cpu_us_per_relay": round(1e6 * relay_cpu / received, 1) if received else None,
        # Every client sends leave (a VoiceBot client) and closes its socket.
        "server_cpu_ms_per_client_leaving": round(1e3 * phase["leave_cpu"] / max(1, args.clients), 2),
        "server_rss_mb_before_clients": round(phase["idle_rss"] / 2**20, 1),
        "server_rss_kb_per_client_above_idle": round((rss - phase["idle_rss"]) / 1024 / max(1, args.clients), 1),
        "reconnect_storm": merge_storms(storms, phase["storm_cpu"]) if storms else None,
    }


def merge_storms(storms: list[dict[str, Any]], cpu: float | None) -> dict[str, Any]:
    """The storm as the slowest worker saw it (workers storm at the same moment)."""
    def worst(key: str) -> float | None:
        values = [s[key] for s in storms]
        return None if None in values else max(values)

    errors: dict[str, int] = {}
    for storm in storms:
        for code, count in storm["errors"].items():
            errors[code] = errors.get(code, 0) + count
    return {
        "clients": sum(s["clients"] for s in storms),
        "pairs": sum(s["pairs"] for s in storms),
        "done": all(s["done"] for s in storms),
        "seconds": worst("seconds"),
        "all_joined_seconds": worst("all_joined_seconds"),
        "all_renegotiated_seconds": worst("all_renegotiated_seconds"),
        "rejoined": sum(s["rejoined"] for s in storms),
        "pairs_relayed": sum(s["pairs_relayed"] for s in storms),
        "offers_resent": sum(s["offers_resent"] for s in storms),
        "relays_resent": sum(s["relays_resent"] for s in storms),
        "renegotiation_misordered": sum(s["renegotiation_misordered"] for s in storms),
        "timeouts_seen": sum(s["timeouts_seen"] for s in storms),
        "places_lost_and_rejoined": sum(s["places_lost_and_rejoined"] for s in storms),
        "errors": errors,
        "server_cpu_seconds": None if cpu is None else round(cpu, 2),
    }


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def receive(conn: Any, expected: str) -> Any:
    if not conn.poll(RESULT_TIMEOUT):
        raise RuntimeError(f"a load worker sent no {expected!r} within {RESULT_TIMEOUT:.0f} s")
    kind, payload = conn.recv()
    if kind != expected:
        raise RuntimeError(f"a load worker sent {kind!r} instead of {expected!r}")
    return payload


def clean(result: dict[str, Any]) -> bool:
    """Nothing lost, nothing out of order, every client joined, no error; a storm that finished in order."""
    storm = result["reconnect_storm"]
    return (result["lost"] == 0 and result["gaps"] == 0 and result["unknown_sender"] == 0
            and result["chat_lost"] == 0 and result["bad_unanswered"] == 0 and result["stalls"] == 0
            and result["closed_early"] == 0
            and result["pairs_negotiated"] == result["pairs"] and not result.get("stale_group_members")
            and not result["errors"] and result["clients_joined"] == result["clients"]
            and (storm is None or (storm["done"] and storm["renegotiation_misordered"] == 0)))


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a is not None and b else "-"


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds (the storm's times too)."""
    def median(values: list[Any]) -> Any:
        values = sorted(v for v in values if v is not None)
        return values[len(values) // 2] if values else None

    row = {"server": f"{rows[0]['server']} (median of {len(rows)})", "round": 0}
    for key, value in rows[0].items():
        if isinstance(value, (int, float)) and key not in row:
            row[key] = median([r[key] for r in rows])
    storms = [r["reconnect_storm"] for r in rows if r["reconnect_storm"]]
    row["reconnect_storm"] = None
    if storms:
        row["reconnect_storm"] = {"done": all(s["done"] for s in storms),
                                  "seconds": median([s["seconds"] for s in storms]),
                                  "all_joined_seconds": median([s["all_joined_seconds"] for s in storms])}
    return row


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the runs, with the ratios of the first to the last (the bare relay)."""
    columns = [("relayed/s", "relayed_per_s"), ("lost", "lost"), ("CPU us/relay", "server_cpu_us_per_relay"),
               ("CPU %", "server_cpu_relaying_pct"), ("p50 ms", "latency_ms_p50"), ("p99 ms", "latency_ms_p99"),
               ("RSS MB", "server_rss_mb"), ("RSS KB/conn", "server_rss_kb_per_client"),
               ("RSS KB/conn above idle", "server_rss_kb_per_client_above_idle"),
               ("leaving ms/client", "server_cpu_ms_per_client_leaving")]
    if any(r["reconnect_storm"] for r in results):
        columns += [("storm: all joined s", "storm_joined"), ("storm: all renegotiated and relayed s", "storm_s")]
    lines = ["| server | " + " | ".join(c for c, _ in columns) + " |",
             "| --- |" + " ---: |" * len(columns)]

    def value(r: dict[str, Any], key: str) -> Any:
        storm = r["reconnect_storm"] or {}
        if key == "storm_joined":
            return storm.get("all_joined_seconds")
        if key == "storm_s":
            return storm.get("seconds") if storm.get("done") else None
        return r[key]

    if len({r["round"] for r in results}) > 1:
        results = [median_row([r for r in results if r["server"] == label])
                   for label in dict.fromkeys(r["server"] for r in results)]
    for r in results:
        lines.append(f"| {r['server']} | " + " | ".join("-" if value(r, k) is None else f"{value(r, k):,}"
                                                          for _, k in columns) + " |")
    # Ratios of each VoiceBot server to each baseline.
    def is_baseline(r: dict[str, Any]) -> bool:
        return r["server"].startswith(("PeerJS", "bare", "ASGI floor"))

    for server in [r for r in results if not is_baseline(r)]:
        for baseline in [r for r in results if is_baseline(r)]:
            name = baseline["server"].split(" (median")[0]
            lines.append(f"| ratio {server['server'].split(' (median')[0]} / {name} | " + " | ".join(
                ratio(value(server, k), value(baseline, k)) if k != "lost" else "-" for _, k in columns) + " |")
    return "\n".join(lines)


def compare_arg(text: str) -> tuple[str, str]:
    label, sep, path = text.partition("=")
    if not sep or not label or not Path(path, "manage.py").is_file():
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH of a checkout with manage.py, got {text!r}")
    return label, path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=SERVERS, default="uvicorn",
                        help="the server manage.py serve runs (default: uvicorn, as make run)")
    parser.add_argument("--label", default="", help="a name for this checkout's server in the table")
    parser.add_argument("--compare", action="append", type=compare_arg, default=[], metavar="LABEL=PATH",
                        help="also run the server from the checkout at PATH (e.g. a worktree of main), named LABEL "
                             "in the table, interleaved with the others; may be given more than once")
    parser.add_argument("--compare-server", choices=SERVERS, default="",
                        help="the server the compared checkouts run (default: --server)")
    parser.add_argument("--floor", action="append", choices=("uvicorn", "granian"), default=[],
                        help="run the same load against bench/asgi_relay.py (the ASGI server's own cost, no "
                             "VoiceBot) under this server too; may be given twice")
    parser.add_argument("--processes", type=int, default=1, help="server processes (more than 1 uses Redis)")
    parser.add_argument("--redis", action="store_true", help="use the Redis channel layer with one process too")
    parser.add_argument("--redis-layer", choices=("queues", "pubsub"), default="queues",
                        help="the Redis layer (VOICEBOT_REDIS_LAYER): queues (the default) or channels-redis's pubsub")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--lobby-size", type=int, default=4)
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="relays per second, all clients together; 0 saturates (see --window)")
    parser.add_argument("--window", type=int, default=4,
                        help="saturated (--rate 0): relays each client keeps in flight")
    parser.add_argument("--bad-rate", type=float, default=0.0,
                        help="bad frames per second, all clients together, while relaying (the server must "
                             "answer each with an error)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the clients relay")
    parser.add_argument("--workers", type=int, default=1, help="load-generator processes")
    parser.add_argument("--source", default=str(BASE_DIR), help="checkout to run the server from")
    parser.add_argument("--json", help="append the result line to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 unless nothing was lost or out of order")
    parser.add_argument("--baseline", action="store_true",
                        help="run the same load against the bare relay (bench/bare_relay.py) too, and print a table")
    parser.add_argument("--peerjs", action="store_true",
                        help="run the same load against the PeerJS server too (implies --candidates-only)")
    parser.add_argument("--candidates-only", action="store_true",
                        help="relay ICE candidates only: no offers, no chat (every server of the run)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the run (interleaved with the baselines)")
    parser.add_argument("--reconnect-storm", action="store_true",
                        help="after the relays, every client drops its socket at once and rejoins; time the recovery")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (server logs, database)")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 10_000:
        parser.error("--clients must be 1 to 10000")
    if not 2 <= args.lobby_size <= 16:
        parser.error("--lobby-size must be 2 to 16")
    if not 0 < args.seconds <= 120:
        parser.error("--seconds must be above 0 and at most 120")
    if args.rate < 0 or not 1 <= args.window <= 64:
        parser.error("--rate must be 0 (saturated) or more, --window 1 to 64")
    if not 0 <= args.bad_rate <= 1000:
        parser.error("--bad-rate must be 0 to 1000")
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be 1 to 5")
    if len(args.compare) > 4:
        parser.error("at most 4 --compare")
    if not 1 <= args.processes <= 4 or not 1 <= args.workers <= 4:
        parser.error("--processes and --workers must be 1 to 4")
    if args.peerjs:
        if args.reconnect_storm or args.bad_rate:
            parser.error("--peerjs has no reconnect storm and no bad frames (PeerJS has no rejoin or error answers)")
        missing = PeerJSProcess.missing()
        if missing:
            parser.error(f"--peerjs: {missing}")
        args.candidates_only = True
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
    results = run(args)
    for result in results:
        line = json.dumps(result)
        print(line, flush=True)
        if args.json:
            with open(args.json, "a") as out:
                out.write(line + "\n")
    if args.baseline or args.peerjs or args.floor or args.compare or args.reconnect_storm:
        print(table(results), flush=True)
    if args.check and not all(clean(result) for result in results):
        print("bench: frames were lost or out of order, or clients failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
