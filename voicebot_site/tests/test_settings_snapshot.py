"""A settings snapshot holds its settings' values, and the new one as soon as a setting is overridden."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from errors.boundary import LOG_SETTINGS
from errors.consumers import BAD_FRAME_SETTINGS
from signaling.consumers import SOCKET_SETTINGS
from voicebot_site.settings_snapshot import SettingsSnapshot


def test_a_snapshot_reads_its_settings(settings: Any) -> None:
    snapshot = SettingsSnapshot(limit="VOICEBOT_BAD_FRAME_LIMIT", size="VOICEBOT_MAX_FRAME_BYTES")
    assert (snapshot.limit, snapshot.size) == (settings.VOICEBOT_BAD_FRAME_LIMIT, settings.VOICEBOT_MAX_FRAME_BYTES)


def test_an_overridden_setting_is_seen_at_once_and_restored_after() -> None:
    before = (SOCKET_SETTINGS.max_frame_bytes, BAD_FRAME_SETTINGS.limit, LOG_SETTINGS.log_every)
    with override_settings(VOICEBOT_MAX_FRAME_BYTES=1234, VOICEBOT_BAD_FRAME_LIMIT="3/1 second",
                           VOICEBOT_ERROR_LOG_EVERY=not before[2]):
        assert (SOCKET_SETTINGS.max_frame_bytes, BAD_FRAME_SETTINGS.limit, LOG_SETTINGS.log_every) == (
            1234, "3/1 second", not before[2])
    assert (SOCKET_SETTINGS.max_frame_bytes, BAD_FRAME_SETTINGS.limit, LOG_SETTINGS.log_every) == before


def test_a_setting_the_snapshot_does_not_keep_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="'frame_rat'"):
        SOCKET_SETTINGS.frame_rat  # noqa: B018 - a typo must not read as None
