"""The assistant end to end, timed: a participant asks by voice, the worker answers by voice.

    sudo .venv/bin/python -m bench.assistant_voice --turns 12 --barge-ins 10 --failovers 10 --loads 1,2,3

Runs inside a loopback-only network namespace (as the bot tests do; needs
root): a server and one bot worker as real processes, scripted
OpenAI-compatible servers whose first token takes ``--first-token`` seconds
(the tests' own, bots/tests/llm_server.py), an aiortc participant that
speaks Piper-made questions. Measured:

- voice to voice: from the last frame of the question leaving the
  participant to the first frame of the answer reaching it (the client's
  clock), and the bot's own record of each turn (bots_turn): end of speech to
  transcript, to the turn decided, the model's first token, text to speech's
  first audio, voice to voice, and the bot's overhead (all but speech to
  text, the model, text to speech and the end-of-turn wait);
- barge-in stop: from the first frame of speech over a long answer leaving
  the participant to the last frame of the answer reaching it;
- failover: the first provider hangs; the bot's record of request to first
  token (the first-token deadline, ``VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT`` =
  ``--deadline``, then the fallback), and to the fallback's first audio;
- assistants per worker: ``--loads`` lobbies at once, each with an assistant
  and a participant asking in turn; the worker's late audio frames and the
  voice to voice under that load.

Prints one JSON line per measurement (medians and percentiles); asserts
nothing. The machine may be shared: say so with the numbers.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bots.speech.audio import PcmResampler  # noqa: E402
from bots.speech.tts import PiperTTS  # noqa: E402
from bots.tests.llm_server import LLMServer, Reply  # noqa: E402
from bots.tests.rtc_client import RATE, RtcParticipant, SpeechTrack, api  # noqa: E402
from bots.tests.stack import BotStack, WorkerProcess, namespaced_stack  # noqa: E402
from web.tests import netns  # noqa: E402

LONG_ANSWER = (
    "Paris has been the capital of France for more than a thousand years. The city grew on both banks of the "
    "river Seine. Its old centre is an island called the Ile de la Cite. Kings built palaces and churches there. "
    "Later the city spread out in rings of new streets and walls."
)


def providers_env(first: LLMServer, second: LLMServer, deadline: float) -> dict[str, str]:
    return {
        "VOICEBOT_LLM_PROVIDERS": json.dumps([{"name": name, "base_url": server.base_url, "model": "scripted"}
                                              for name, server in (("first", first), ("second", second))]),
        "VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT": str(deadline),
        "VOICEBOT_BREAKER_FAILURE_THRESHOLD": "2",
        "VOICEBOT_BREAKER_RECOVERY_TIMEOUT": "2",
    }


async def speech(piper: PiperTTS, text: str) -> np.ndarray:
    """``text`` spoken by Piper, at 48 kHz."""
    pcm = np.concatenate([chunk async for chunk in piper.synthesize(text)])
    resampler = PcmResampler(piper.sample_rate, RATE)
    return np.concatenate([resampler.push(pcm), resampler.flush()])

ANSWER = "Paris is the capital of France. It lies on the river Seine."
QUESTIONS = ("What is the capital of France?", "How many people live in Paris?", "Which river flows through Paris?",
             "What is the tallest tower in Paris?")
TURN_STAGES = ("transcription", "end_of_turn", "llm_first_token", "tts_first_audio", "voice_to_voice", "overhead")


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "median": round(statistics.median(ordered), 3),
            "p95": round(float(np.percentile(ordered, 95)), 3), "min": round(ordered[0], 3),
            "max": round(ordered[-1], 3)}


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def lobby(stack: BotStack, name: str) -> str:
    owner = await asyncio.to_thread(api, stack.server.url, "POST", "/api/sessions", {})
    status, body = await asyncio.to_thread(api, stack.server.url, "POST", "/api/lobbies", {"name": name},
                                           owner[1]["token"])
    assert status == 201, body
    return str(body["id"])


def state_is(frame: dict[str, Any], bot_id: str, state: str) -> bool:
    return (frame["type"] == "participant_updated" and frame["participant"]["session_id"] == bot_id
            and frame["participant"].get("bot", {}).get("state") == state)


async def join_with_assistant(stack: BotStack, name: str) -> tuple[RtcParticipant, str]:
    person = RtcParticipant(stack.server.url, await lobby(stack, name), name, track=SpeechTrack())
    await person.join()
    status, body = await person.add_bot("assistant")
    assert status == 202, body
    bot_id = str(body["session_id"])
    await person.connected_to(bot_id, deadline=60)
    await person.wait_for(lambda f: state_is(f, bot_id, "listening"), deadline=60, what="listening")
    await asyncio.sleep(0.5)
    return person, bot_id


def voiced(pcm: np.ndarray) -> tuple[float, float]:
    """Where the voice in ``pcm`` begins and ends, in seconds (Piper leaves some silence around it)."""
    frames = pcm[:pcm.size // 960 * 960].reshape(-1, 960).astype(np.float64) / 32768.0
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)
    return (loud[0] * 0.02, (loud[-1] + 1) * 0.02) if loud.size else (0.0, pcm.size / RATE)


async def say(person: RtcParticipant, pcm: np.ndarray) -> tuple[float, float]:
    """When the voice of ``pcm`` began and ended going out (its silent lead-in and tail left out)."""
    assert isinstance(person.track, SpeechTrack)
    person.track.say(pcm)
    while person.track.busy:
        await asyncio.sleep(0.01)
    first, _ = person.track.said[-1]
    onset, end = voiced(pcm)
    return first + onset, first + end


async def one_turn(person: RtcParticipant, bot_id: str, question: np.ndarray) -> float | None:
    """Client-side voice to voice of one question (the end of its voice to the answer's first sound), or None."""
    _, ended = await say(person, question)
    heard = person.heard[bot_id]
    try:
        await person.wait_for(lambda f: state_is(f, bot_id, "listening") and heard.first_sound(ended) is not None,
                              deadline=30, what="the answer's end")
    except AssertionError:
        return None
    first = heard.first_sound(ended)
    return None if first is None else first - ended


def stored_turns(stack: BotStack, since_id: int) -> list[dict[str, Any]]:
    columns = ", ".join(TURN_STAGES + ("fallback", "interrupted", "id"))
    rows = stack.rows(f"SELECT {columns} FROM bots_turn WHERE id > %s ORDER BY id", (since_id,))
    return [dict(zip(TURN_STAGES + ("fallback", "interrupted", "id"), row)) for row in rows]


def last_turn_id(stack: BotStack) -> int:
    return int(stack.rows("SELECT COALESCE(MAX(id), 0) FROM bots_turn")[0][0])


def turn_stats(turns: list[dict[str, Any]]) -> dict[str, Any]:
    return {stage: stats([t[stage] for t in turns if t[stage] is not None]) for stage in TURN_STAGES}


def forget_scripts(*servers: LLMServer) -> None:
    """Replies a phase scripted and did not use (a round that went wrong) must not answer the next phase."""
    for server in servers:
        server.replies.clear()


async def voice_to_voice(stack: BotStack, first: LLMServer, questions: list[np.ndarray], turns: int,
                         first_token: float) -> None:
    forget_scripts(first)
    person, bot_id = await join_with_assistant(stack, "Ann")
    try:
        start = last_turn_id(stack)
        client = []
        for index in range(turns):
            first.script(Reply(text=ANSWER, first_token_delay=first_token, piece_delay=0.005))
            value = await one_turn(person, bot_id, questions[index % len(questions)])
            if value is not None:
                client.append(value)
            await asyncio.sleep(0.5)
        turns_rows = await asyncio.to_thread(stored_turns, stack, start)
        emit(measure="voice_to_voice", first_token_delay=first_token, client_seconds=stats(client),
             bot_seconds=turn_stats(turns_rows))
    finally:
        await person.close()


async def barge_in(stack: BotStack, first: LLMServer, question: np.ndarray, interruption: np.ndarray,
                   rounds: int) -> None:
    person, bot_id = await join_with_assistant(stack, "Bea")
    stops = []
    try:
        heard = person.heard[bot_id]
        for _ in range(rounds):
            forget_scripts(first)
            first.script(Reply(text=LONG_ANSWER, piece_chars=6, piece_delay=0.05),
                         Reply(text="Rome is the capital of Italy.", piece_delay=0.005))
            _, ended = await say(person, question)
            deadline = time.monotonic() + 20
            while heard.first_sound(ended) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            started = heard.first_sound(ended)
            if started is None:
                emit(note="a barge-in round heard no answer; skipped")
                continue
            await asyncio.sleep(max(0.0, started + 2.0 - time.monotonic()))
            person.frames.clear()
            over, _ = await say(person, interruption)
            last = heard.last_sound(over, level=0.01)
            # The last frame of the first answer: before the second answer begins (a gap of silence).
            frames = [at for at, pcm in heard.since(over) if float(np.sqrt(np.mean((pcm / 32768.0) ** 2))) > 0.01]
            gaps = [b for a, b in zip(frames, frames[1:]) if b - a > 0.3]
            end_of_first = frames[frames.index(gaps[0]) - 1] if gaps else last
            if end_of_first is not None:
                stops.append(end_of_first - over)
            # The second answer ("Rome...") said, and its audio over.
            await person.wait_for(lambda f: f["type"] == "chat" and f["session_id"] == bot_id
                                  and f.get("transcript") and f["text"].startswith("Rome"), deadline=30,
                                  what="the second answer")
            await asyncio.sleep(2.0)
        emit(measure="barge_in_stop", client_seconds=stats(stops),
             note="the voice over the answer beginning to leave the participant to the last frame of the "
                  "answer reaching it")
    finally:
        await person.close()


async def failover(stack: BotStack, first: LLMServer, second: LLMServer, questions: list[np.ndarray],
                   rounds: int) -> None:
    person, bot_id = await join_with_assistant(stack, "Cid")
    try:
        start = last_turn_id(stack)
        client = []
        for index in range(rounds):
            forget_scripts(first, second)
            first.script(Reply(hang=True))
            second.script(Reply(text=ANSWER, first_token_delay=0.06, piece_delay=0.005))
            value = await one_turn(person, bot_id, questions[index % len(questions)])
            if value is not None:
                client.append(value)
            await asyncio.sleep(2.5)  # the first provider's breaker lets a trial through again
        turns = [t for t in await asyncio.to_thread(stored_turns, stack, start) if t["fallback"]]
        to_audio = [t["llm_first_token"] + (t["overhead"] or 0) + (t["tts_first_audio"] or 0)
                    for t in turns if t["llm_first_token"] is not None]
        emit(measure="failover_from_a_hanging_provider", fallback_turns=len(turns),
             request_to_fallback_first_token=stats([t["llm_first_token"] for t in turns
                                                    if t["llm_first_token"] is not None]),
             request_to_fallback_first_audio=stats(to_audio), client_voice_to_voice=stats(client))
    finally:
        await person.close()


async def load(stack: BotStack, worker: WorkerProcess, first: LLMServer, questions: list[np.ndarray], bots: int,
               turns: int) -> None:
    forget_scripts(first)
    people = [await join_with_assistant(stack, f"P{n}") for n in range(bots)]
    try:
        before = await worker_counters(stack, worker)
        cpu_before = cpu_seconds(worker.pid)
        began = time.monotonic()
        client: list[float] = []

        async def asker(person: RtcParticipant, bot_id: str, offset: float) -> None:
            await asyncio.sleep(offset)
            for index in range(turns):
                first.script(Reply(text=ANSWER, first_token_delay=0.06, piece_delay=0.005))
                value = await one_turn(person, bot_id, questions[index % len(questions)])
                if value is not None:
                    client.append(value)
                await asyncio.sleep(1.0)

        await asyncio.gather(*(asker(person, bot_id, n * 1.3) for n, (person, bot_id) in enumerate(people)))
        elapsed = time.monotonic() - began
        after = await worker_counters(stack, worker)
        sent = after["frames_sent"] - before["frames_sent"]
        late = after["frames_late"] - before["frames_late"]
        emit(measure="assistants_per_worker", bots=bots, turns=len(client), client_voice_to_voice=stats(client),
             late_share=round(late / sent, 4) if sent else None,
             worker_cpu_cores=round((cpu_seconds(worker.pid) - cpu_before) / elapsed, 3))
    finally:
        for person, _ in people:
            await person.close()
        await asyncio.sleep(3)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


async def worker_counters(stack: BotStack, worker: WorkerProcess) -> dict[str, Any]:
    # A heartbeat, with the counters of now. Not time.sleep: that would stall the participants'
    # tracks, which then send the backlog of frames at once (the first question of a round lost in it).
    await asyncio.sleep(2.5)
    [(raw,)] = await asyncio.to_thread(stack.rows, "SELECT stats FROM bots_botworker WHERE pid = %s", (worker.pid,))
    return json.loads(raw) if isinstance(raw, str) else raw


async def bench(stack: BotStack, args: argparse.Namespace) -> None:
    emit(machine={"cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0]})
    piper = PiperTTS()
    await piper.warm_up()
    questions = [await speech(piper, text) for text in QUESTIONS]
    interruption = await speech(piper, "Wait, stop. Tell me about Rome instead.")
    first, second = LLMServer().start(), LLMServer().start()
    env = providers_env(first, second, args.deadline)
    if args.vad_silence is not None:
        env["VOICEBOT_ASSISTANT_VAD_SILENCE"] = str(args.vad_silence)
    if args.vad_min_speech is not None:
        env["VOICEBOT_ASSISTANT_VAD_MIN_SPEECH"] = str(args.vad_min_speech)
    emit(settings={"first_token_delay": args.first_token, "first_token_deadline": args.deadline,
                   "assistant_vad_silence": args.vad_silence, "assistant_vad_min_speech": args.vad_min_speech})
    worker = await asyncio.to_thread(stack.worker, capacity=max(args.loads, default=2), env=env)
    try:
        await asyncio.sleep(3)  # the worker's models warm up
        if args.turns:
            await voice_to_voice(stack, first, questions, args.turns, args.first_token)
        if args.barge_ins:
            await barge_in(stack, first, questions[0], interruption, args.barge_ins)
        if args.failovers:
            await failover(stack, first, second, questions, args.failovers)
        for bots in args.loads:
            await load(stack, worker, first, questions, bots, args.load_turns)
    finally:
        first.stop()
        second.stop()
    emit(load_average_1m_after=os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=12, help="Questions timed for voice to voice.")
    parser.add_argument("--barge-ins", type=int, default=10, help="Answers talked over.")
    parser.add_argument("--failovers", type=int, default=10, help="Answers with the first provider hanging.")
    parser.add_argument("--loads", default="1,2,3", help="Assistants at once on the one worker, e.g. 1,2,3,4.")
    parser.add_argument("--load-turns", type=int, default=3, help="Questions per assistant at each load.")
    parser.add_argument("--first-token", type=float, default=0.06, help="The scripted server's first-token delay.")
    parser.add_argument("--deadline", type=float, default=1.0, help="VOICEBOT_LLM_FIRST_TOKEN_TIMEOUT for the run.")
    parser.add_argument("--vad-silence", type=float, help="VOICEBOT_ASSISTANT_VAD_SILENCE for the run (default: its default).")
    parser.add_argument("--vad-min-speech", type=float,
                        help="VOICEBOT_ASSISTANT_VAD_MIN_SPEECH for the run (default: its default).")
    args = parser.parse_args()
    args.loads = [int(n) for n in str(args.loads).split(",") if n.strip()]
    missing = netns.unavailable_reason()
    if missing:
        raise SystemExit(f"bench.assistant_voice runs WebRTC in a loopback-only namespace: {missing}")
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-bench-assistant-"))
    with namespaced_stack(workdir) as stack:
        asyncio.run(bench(stack, args))
    emit(logs=str(workdir))


if __name__ == "__main__":
    main()
