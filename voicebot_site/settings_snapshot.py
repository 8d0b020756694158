"""Settings read on every frame or every error, kept as plain attributes.

``django.conf.settings`` is a lazy object: each read of a setting runs its
``__getattribute__`` in Python, about 20 bytecodes. A relayed frame read two
settings (4 % of what the project's code does per relay, counted by
``bench.inprocess``), a bad frame three. A ``SettingsSnapshot`` reads its
settings once, and again whenever Django says one of them changed
(``setting_changed``: tests that override one).
"""
from __future__ import annotations

import weakref
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_snapshots: weakref.WeakSet[SettingsSnapshot] = weakref.WeakSet()


class SettingsSnapshot:
    """``SettingsSnapshot(max_frame_bytes="VOICEBOT_MAX_FRAME_BYTES").max_frame_bytes`` is that setting's value."""

    # No __getattr__: a class with one is read through a slower path on every attribute
    # (CPython cannot specialise the read), and a name not kept is an AttributeError anyway.

    def __init__(self, **names: str) -> None:
        self._names = names  # attribute -> setting
        self.load()
        _snapshots.add(self)

    def load(self) -> None:
        for attribute, name in self._names.items():
            setattr(self, attribute, getattr(settings, name))


@receiver(setting_changed)
def _reload(*, setting: str, **_: Any) -> None:
    for snapshot in list(_snapshots):
        if setting in snapshot._names.values():
            snapshot.load()
