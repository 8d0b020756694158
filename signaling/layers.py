"""Channel layers for many sockets per process.

``LocalChannelLayer`` is Channels' in-memory layer, which looks for expired
messages and group memberships across *all* channels and groups on every
receive and group send: with thousands of sockets each message costs a scan
of all of them. It scans at most once a second instead (messages expire after
a minute; a second later changes nothing), and copies only a message's top
level where Channels deep-copies it.

``RelayRedisChannelLayer`` is the Redis layer with a send that costs one
round trip. channels-redis sends a message in four commands, each waiting
for the last (drop expired messages, count, add, refresh the expiry). A
relay to a socket of another process is one send, so those round trips are
most of what crossing processes costs. ``RelayRedisChannelLayer.send`` runs
the same four steps as one Lua script: the same capacity check
(``ChannelFull``), expiry and message format, so that any channels-redis
process reads what it sends. On the receiving side channels-redis takes one
message per four round trips; this layer takes every waiting message (up to
``RECEIVE_BATCH``) in one script, with the same backup set that puts them
back should the receive be cancelled before they reach their sockets.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

from signaling.inbox import inbox_local

# Seconds between two scans of the in-memory layer for expired entries.
CLEAN_INTERVAL = 1.0
# Messages one receive from Redis takes at most.
RECEIVE_BATCH = 256

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


# KEYS[1]: a process's channel, KEYS[2]: its backup set. ARGV[1]: how many.
# Puts back what an interrupted receive left in the backup, then moves up to
# ARGV[1] messages, oldest first, from the channel to the backup and returns
# them (member, score, member, score, ...).
_RECEIVE = """
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
    redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', KEYS[2])
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
for i = 1, #popped, 2 do
    redis.call('ZADD', KEYS[2], popped[i + 1], popped[i])
end
return popped
"""


class LocalChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_clean = 0.0

    delivers_to_inboxes = True

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Channels' send, copying the message's top level instead of deep-copying it.

        A channel of a socket of this process gets the message in its inbox
        (signaling.inbox), which its consumer reads instead of this layer.

        Every message here is built by its sender and only read by its
        receivers (events and relays), so a shallow copy keeps them apart;
        the deep copy was the largest cost of a group send. The queue is
        created only for a new channel, not built and thrown away each time.
        """
        assert isinstance(message, dict), "message is not a dict"
        assert "__asgi_channel__" not in message
        self.require_valid_channel_name(channel)
        inbox = inbox_local(channel)
        if inbox is not None:
            inbox.deliver(dict(message))
            return
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

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

    async def receive_single(self, channel: str) -> tuple[Any, dict[str, Any]]:
        """Every waiting message of this process's channel, or wait for one.

        All but the last go straight to their sockets' buffers, in order; the
        last is returned for ``receive`` to deliver, after them.
        """
        if "!" not in channel:
            return await super().receive_single(channel)
        channel_key = self.prefix + channel
        backup_key = self._backup_channel_name(channel_key)
        connection = self.connection(self.consistent_hash(channel))
        await self.receive_clean_locks.acquire(channel_key)
        try:
            popped = await connection.eval(_RECEIVE, 2, channel_key, backup_key, RECEIVE_BATCH)
        except BaseException:
            self.receive_clean_locks.release(channel_key)
            raise
        if not popped:
            self.receive_clean_locks.release(channel_key)
            return await super().receive_single(channel)
        # Delivered from here on without a pause: the backup can go. The
        # cleaner runs as a task of its own so that a cancelled receive does
        # not leave the messages to be put back and delivered twice.
        cleaner = asyncio.ensure_future(connection.delete(backup_key))
        self.receive_cleaners.append(cleaner)

        def cleaned(task: asyncio.Future[Any]) -> None:
            self.receive_cleaners.remove(task)
            self.receive_clean_locks.release(channel_key)

        cleaner.add_done_callback(cleaned)
        received = [self._addressed(channel, content) for content in popped[0::2]]
        for target, message in received[:-1]:
            for name in target if isinstance(target, list) else [target]:
                self.receive_buffer[name].put_nowait(message)
        return received[-1]

    def _addressed(self, channel: str, content: bytes) -> tuple[Any, dict[str, Any]]:
        message = self.deserialize(content)
        target = message.pop("__asgi_channel__", channel)
        return target, message
