"""Caption latency: from the end of a participant's speech to the captioner's transcript frame.

    sudo .venv/bin/python -m bench.captions --speakers 2 --utterances 12

Runs inside a loopback-only network namespace (as the bot tests do; needs
root): a server (``manage.py serve``) and one worker (``manage.py runbots``)
as real processes, one lobby of ``--speakers`` aiortc participants and a
captioner. The participants take turns saying Piper's sentences (cut of
the silence around them); each sample is the time from the last sample of a
sentence leaving the speaker's microphone track to the transcript frame
naming that speaker arriving on its socket. The end-of-utterance silence
(``VOICEBOT_VAD_SILENCE``, 0.5 s) is part of it, as a listener would see.
It prints one JSON line per sample and a summary (p50, p95).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

# Piper speaks the participants' sentences in this process: it reads the speech settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bots.speech.audio import WEBRTC_RATE, PcmResampler  # noqa: E402
from bots.speech.tts import PiperTTS  # noqa: E402
from bots.tests.rtc_client import RtcParticipant, SpeechTrack, api  # noqa: E402
from bots.tests.stack import BotStack, namespaced_stack  # noqa: E402
from web.tests import netns  # noqa: E402

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to bring your umbrella tomorrow.",
    "The meeting starts at noon in the large room.",
    "Our garden has tomatoes, beans and a small apple tree.",
)
DEADLINE = 60.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


async def sentences48k() -> list[np.ndarray]:
    voice = PiperTTS()
    await voice.warm_up()
    spoken = []
    for text in SENTENCES:
        pcm = np.concatenate([chunk async for chunk in voice.synthesize(text)])
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 200)
        pcm = pcm[loud[0]:loud[-1] + 1]
        resampler = PcmResampler(voice.sample_rate, WEBRTC_RATE)
        spoken.append(np.concatenate([resampler.push(pcm), resampler.flush()]))
    return spoken


async def bench(stack: BotStack, args: argparse.Namespace) -> None:
    print(json.dumps({"machine": {"cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0]}}), flush=True)
    speech = await sentences48k()
    worker = await asyncio.to_thread(stack.worker)
    owner = await asyncio.to_thread(api, stack.server.url, "POST", "/api/sessions", {})
    _, lobby = await asyncio.to_thread(api, stack.server.url, "POST", "/api/lobbies", {"name": "Captions"},
                                       owner[1]["token"])
    room = [RtcParticipant(stack.server.url, str(lobby["id"]), f"S{n}", track=SpeechTrack())
            for n in range(args.speakers)]
    latencies: list[float] = []
    try:
        for person in room:
            await person.join()
        status, body = await room[0].add_bot("captioner")
        assert status == 202, body
        bot_id = body["session_id"]
        for person in room:
            await person.wait_for(lambda f: f["type"] == "participant_joined"
                                  and f["participant"]["session_id"] == bot_id, deadline=DEADLINE)
            await person.connected_to(bot_id, deadline=DEADLINE)
        await asyncio.sleep(2.0)
        listener = room[0]
        for n in range(args.utterances):
            speaker = room[n % len(room)]
            track: Any = speaker.track
            ends = len(track.ends)
            track.say(speech[n % len(speech)])
            while len(track.ends) == ends:
                await asyncio.sleep(0.01)
            ended = track.ends[-1]
            frame = await listener.wait_for(
                lambda f, who=speaker.session_id: f["type"] == "chat"
                and (f.get("transcript") or {}).get("speaker_session_id") == who,
                deadline=DEADLINE, what="a transcript")
            latency = time.monotonic() - ended
            latencies.append(latency)
            print(json.dumps({"sample": n, "speaker": speaker.name, "latency_seconds": round(latency, 3),
                              "text": frame["text"]}), flush=True)
            await asyncio.sleep(args.pause)
    finally:
        for person in room:
            await person.close()
        worker.stop()
    print(json.dumps({"summary": "caption latency, end of speech to transcript frame (s)",
                      "speakers": args.speakers, "samples": len(latencies),
                      "p50": round(percentile(latencies, 0.5), 3), "p95": round(percentile(latencies, 0.95), 3),
                      "max": round(max(latencies), 3), "load_average_1m_after": os.getloadavg()[0]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speakers", type=int, default=2, help="Participants taking turns.")
    parser.add_argument("--utterances", type=int, default=12, help="Sentences said in all.")
    parser.add_argument("--pause", type=float, default=0.5, help="Seconds between a transcript and the next turn.")
    args = parser.parse_args()
    missing = netns.unavailable_reason()
    if missing:
        raise SystemExit(f"bench.captions runs WebRTC in a loopback-only namespace: {missing}")
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-bench-captions-"))
    with namespaced_stack(workdir) as stack:
        asyncio.run(bench(stack, args))
    print(json.dumps({"logs": str(workdir)}), flush=True)


if __name__ == "__main__":
    main()
