"""Channel layers for many sockets per process.

``LocalChannelLayer`` is Channels' in-memory layer, which looks for expired
messages and group memberships across *all* channels and groups on every
receive and group send: with thousands of sockets each message costs a scan
of all of them. It scans at most once a second instead (messages expire after
a minute; a second later changes nothing).

``RelayRedisChannelLayer`` is the Redis layer with a send that costs one
round trip. channels-redis sends a message in four commands, each waiting
for the last (drop expired messages, count, add, refresh the expiry). A
relay to a socket of another process is one send, so those round trips are
most of what crossing processes costs. ``RelayRedisChannelLayer.send`` runs
the same four steps as one Lua script: the same capacity check
(``ChannelFull``), expiry and message format, so that any channels-redis
process reads what it sends.
"""
from __future__ import annotations

import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

# Seconds between two scans of the in-memory layer for expired entries.
CLEAN_INTERVAL = 1.0

# KEYS[1]: the channel's sorted set. ARGV: message, score (now), drop scores
# up to this, capacity, expiry in seconds. Returns 0 when the channel is full.
_SEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class LocalChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_clean = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_clean:
            return
        self._next_clean = now + CLEAN_INTERVAL
        super()._clean_expired()


class RelayRedisChannelLayer(RedisChannelLayer):
    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        if "!" in channel:
            # A process-specific channel: its process's list, the full name inside.
            message = {**message, "__asgi_channel__": channel}
            key = self.prefix + self.non_local_name(channel)
            index = self.consistent_hash(channel)
        else:
            key = self.prefix + channel
            index = next(self._send_index_generator)
        now = time.time()
        added = await self.connection(index).eval(
            _SEND, 1, key, self.serialize(message), now, int(now) - int(self.expiry),
            self.get_capacity(channel), int(self.expiry),
        )
        if not added:
            raise ChannelFull()
