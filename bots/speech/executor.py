"""Where the CPU-heavy speech work runs: a small pool of threads, off the event loop.

Speech to text and text to speech take tenths of a second of CPU each; run on
a bot worker's event loop they would stall every peer connection's audio. The
pool is bounded (``VOICEBOT_SPEECH_WORKERS`` threads) so that a burst of
utterances queues instead of starving the loop of CPU. A thread cannot be
killed: each job gets a ``threading.Event`` that is set when its caller gave
up (a deadline, a barge-in), and checks it between pieces of work.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Concatenate, ParamSpec, TypeVar

from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")


@cache
def speech_executor() -> ThreadPoolExecutor:
    """This process's pool for speech work, made on first use."""
    return ThreadPoolExecutor(max_workers=settings.VOICEBOT_SPEECH_WORKERS, thread_name_prefix="speech")


async def run_blocking(fn: Callable[Concatenate[threading.Event, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(cancelled, *args, **kwargs)`` on the speech pool; ``cancelled`` is set if the caller stops waiting."""
    cancelled = threading.Event()
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(speech_executor(), lambda: fn(cancelled, *args, **kwargs))
    try:
        return await future
    except asyncio.CancelledError:
        cancelled.set()
        raise
