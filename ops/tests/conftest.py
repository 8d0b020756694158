"""Fixtures of the ops tests."""
from __future__ import annotations

import socket

import pytest


@pytest.fixture
def dead_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
