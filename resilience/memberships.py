"""The channel-layer groups this process put its sockets in, to add them again after an outage.

Redis may come back empty after a failure: a broadcast sent before the groups
are rebuilt would reach no one. ``Memberships`` remembers every group
membership this process made and adds them all again, before anything else,
once the layer answers after a failure.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("voicebot.resilience")


class Memberships:
    def __init__(self) -> None:
        # channel -> the groups this process added it to
        self._groups: dict[str, set[str]] = {}

    def add(self, group: str, channel: str) -> None:
        self._groups.setdefault(channel, set()).add(group)

    def discard(self, group: str, channel: str) -> None:
        groups = self._groups.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._groups[channel]

    def forget(self, channel: str) -> None:
        """A socket is gone: its memberships are not restored any more."""
        self._groups.pop(channel, None)

    def of(self, channel: str) -> frozenset[str]:
        return frozenset(self._groups.get(channel, ()))

    def __len__(self) -> int:
        return sum(len(groups) for groups in self._groups.values())

    async def restore(self, group_add: Callable[[str, str], Awaitable[None]]) -> int:
        """Add every remembered membership again; the layer's errors propagate."""
        restored = 0
        for channel, groups in list(self._groups.items()):
            for group in list(groups):
                await group_add(group, channel)
                restored += 1
        if restored:
            logger.info("channel layer answers again: %d group memberships restored", restored)
        return restored
