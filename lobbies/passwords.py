"""Checking a lobby password: off the database thread, and limited per session and per address.

A password check is PBKDF2 (Django's hasher): about 0.3 to 0.5 s of CPU by
design. Run on the one database thread that every socket's database work
shares, each wrong guess stalled every lobby of the process. Here the check
runs on a thread of its own at the lowest CPU priority (one thread: guesses
queue behind each other rather than take every core from everyone else), and a join that needs it asks for it by
raising ``PasswordCheckRequired`` from ``lobby_join`` (see the consumer).

Wrong passwords are counted per session (``VOICEBOT_PASSWORD_RATE``) and per
client address (``VOICEBOT_PASSWORD_ADDRESS_RATE``); past either, a join with a
password is ``rate_limited`` with a ``retry_after`` and nothing is hashed. The
counts are kept in this process's memory, as the other per-client limits.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth.hashers import check_password
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from errors.exceptions import RateLimitedError
from errors.throttle import rate_parse
from lobbies.exceptions import InvalidLobbyPasswordError

def _lowest_priority() -> None:
    """The checking thread yields the CPU to everything else of the process (Linux sets a nice value per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: it runs at the process's priority
        pass


# PBKDF2 (hashlib) releases the GIL while it hashes: the thread costs the
# event loop no Python time, only CPU, which its priority gives up first.
_checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicebot-password", initializer=_lowest_priority)
_storage = MemoryStorage()
_failures = MovingWindowRateLimiter(_storage)


def _limits(*, session_id: str, address: str) -> list[tuple[str, str, str]]:
    return [
        (settings.VOICEBOT_PASSWORD_RATE, "password.session", session_id),
        (settings.VOICEBOT_PASSWORD_ADDRESS_RATE, "password.address", address),
    ]


def password_attempt_allowed(*, session_id: str, address: str) -> None:
    """RateLimitedError when this session or address has guessed wrong too often lately."""
    for rate, scope, key in _limits(session_id=session_id, address=address):
        limit = rate_parse(rate)
        if not _failures.test(limit, scope, key):
            reset_at, _ = _failures.get_window_stats(limit, scope, key)
            raise RateLimitedError(
                "Too many wrong passwords. Wait a moment before trying again.",
                retry_after=max(1.0, round(reset_at - time.time(), 1)),
                context={"limit": scope},
            )


def password_attempt_failed(*, session_id: str, address: str) -> None:
    for rate, scope, key in _limits(session_id=session_id, address=address):
        _failures.hit(rate_parse(rate), scope, key)


async def lobby_password_verify(*, password: str | None, password_hash: str, session_id: str, address: str) -> str:
    """``password_hash`` when ``password`` is its password; else InvalidLobbyPasswordError (or RateLimitedError)."""
    password_attempt_allowed(session_id=session_id, address=address)
    if password:
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(_checker, check_password, password, password_hash):
            return password_hash
    password_attempt_failed(session_id=session_id, address=address)
    raise InvalidLobbyPasswordError()


def password_limits_reset() -> None:
    """Forget every count (tests)."""
    _storage.reset()
