"""Fixtures of the errors app's tests."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from errors.testing import recorder_reset


@pytest.fixture(autouse=True)
def manual_error_writer(settings: Any) -> Iterator[None]:
    """Errors are stored when a test flushes them, and no test sees another's."""
    settings.VOICEBOT_ERROR_WRITER = "manual"
    recorder_reset()
    yield
    recorder_reset()
