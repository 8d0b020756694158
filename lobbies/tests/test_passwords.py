"""The password checker: its own thread, at the lowest CPU priority; limits per session and address."""
from __future__ import annotations

import os
import sys
import threading

import pytest

from errors.exceptions import RateLimitedError
from lobbies import passwords


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_passwords_are_checked_on_one_thread_of_the_lowest_priority() -> None:
    def where() -> tuple[str, int]:
        return threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    name, niceness = passwords._checker.submit(where).result(timeout=10)

    assert name.startswith("voicebot-password") and niceness == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 19  # the rest keeps its priority


def test_failures_count_per_session_and_per_address(settings) -> None:
    settings.VOICEBOT_PASSWORD_RATE = "2/1 minute"
    settings.VOICEBOT_PASSWORD_ADDRESS_RATE = "3/1 minute"
    for _ in range(2):
        passwords.password_attempt_allowed(session_id="a", address="192.0.2.1")
        passwords.password_attempt_failed(session_id="a", address="192.0.2.1")
    with pytest.raises(RateLimitedError) as limited:
        passwords.password_attempt_allowed(session_id="a", address="192.0.2.1")
    assert limited.value.context == {"limit": "password.session"} and limited.value.retry_after >= 1
    passwords.password_attempt_allowed(session_id="b", address="192.0.2.1")
    passwords.password_attempt_failed(session_id="b", address="192.0.2.1")
    with pytest.raises(RateLimitedError) as limited:
        passwords.password_attempt_allowed(session_id="c", address="192.0.2.1")
    assert limited.value.context == {"limit": "password.address"}
    passwords.password_attempt_allowed(session_id="c", address="198.51.100.1")
