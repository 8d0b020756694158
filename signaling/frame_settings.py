"""The settings every client frame reads, kept as plain attributes.

``django.conf.settings`` is a lazy object: each read of a setting runs its
``__getattribute__`` in Python, about 20 bytecodes, and a relayed frame read
two of them (4 % of what the project's code does per relay, counted by
``bench.inprocess``). They are read here once, and again whenever Django
says a setting changed (``setting_changed``: tests that override one).
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

READ = ("VOICEBOT_MAX_FRAME_BYTES", "VOICEBOT_FRAME_RATE")


class FrameSettings:
    __slots__ = ("max_frame_bytes", "frame_rate")

    def __init__(self) -> None:
        self.load()

    def load(self) -> None:
        self.max_frame_bytes: int = settings.VOICEBOT_MAX_FRAME_BYTES
        self.frame_rate: str = settings.VOICEBOT_FRAME_RATE  # "400/1 second", as ``limits`` writes it


FRAME_SETTINGS = FrameSettings()


@receiver(setting_changed)
def _reload(*, setting: str, **_: Any) -> None:
    if setting in READ:
        FRAME_SETTINGS.load()
