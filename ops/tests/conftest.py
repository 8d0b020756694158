"""Fixtures of the ops tests."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def manual_error_writer(settings: Any) -> Iterator[None]:
    """Errors are stored when a test asks for them, and no test sees another's."""
    from errors.testing import recorder_reset

    settings.VOICEBOT_ERROR_WRITER = "manual"
    recorder_reset()
    yield
    recorder_reset()


@pytest.fixture
def dead_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
