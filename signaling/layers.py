"""Channel layers for many sockets per process.

``LocalChannelLayer`` is Channels' in-memory layer, which looks for expired
messages and group memberships across *all* channels and groups on every
receive and group send: with thousands of sockets each message costs a scan
of all of them. It keeps its queued messages' expiry times in the order they
were sent instead, so that each look costs only the messages that expired;
a receive never hands out an expired message, and a group send skips an
expired membership. It copies only a message's top level where Channels
deep-copies it, and it keeps Channels' layer contract (the project's tests
run Channels' cases against it).

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

A relay to a process that died would go into its queue in Redis and be lost
without a word until the presence sweep notices the process gone (two
heartbeats). So every process that has sockets on this layer keeps a
timestamp in Redis saying until when it is alive (``ALIVE_FOR`` seconds ahead,
renewed every ``ALIVE_EVERY``), and the send script refuses, in the same
round trip, a message to the process channel of one whose timestamp has
passed: the sender is told (``ChannelGone``). A process that never wrote one
(plain channels-redis) is sent to as before.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from importlib.metadata import version
from typing import Any

import redis.exceptions
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from django.core.exceptions import ImproperlyConfigured

from signaling.inbox import inbox_local

# The releases these layers reuse the internals of, as the test suite ran them
# (Channels' layer contract and channels-redis's own tests/test_core.py).
TESTED_WITH = {"channels": "4.3.2", "channels-redis": "4.3.0"}

# Messages one receive from Redis takes at most.
RECEIVE_BATCH = 256

# A process says it is alive until this many seconds ahead, every ALIVE_EVERY seconds.
ALIVE_FOR = 3.0
ALIVE_EVERY = 1.0
# How long Redis keeps a process's alive stamp after its last renewal.
ALIVE_KEPT = 86400
# Seconds close_pools waits for the alive renewal to stop (a pool is never kept open longer for it).
ALIVE_STOP_TIMEOUT = 2.0

# KEYS[1]: the channel's sorted set, KEYS[2]: the receiving process's alive
# stamp. ARGV: message, score (now), drop scores up to this, capacity, expiry
# in seconds. Returns 0 when the channel is full, -1 when its process is gone.
_SEND = """
local alive = redis.call('GET', KEYS[2])
if alive and tonumber(alive) < tonumber(ARGV[2]) then
    return -1
end
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


def layers_check_versions() -> None:
    """Refuse to start on a Channels or channels-redis these layers were not tested with."""
    for package, tested in TESTED_WITH.items():
        installed = version(package)
        if installed != tested:
            raise ImproperlyConfigured(
                f"{package} {installed} is installed, but VoiceBot's channel layers were tested with {tested}: "
                f"install {package}=={tested} (requirements.txt)."
            )


class LocalChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (expires at, channel) of every queued message, in the order sent:
        # expiry times only grow, so the expired ones are always at the front.
        self._expiring: deque[tuple[float, str]] = deque()

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
        expires = time.time() + self.expiry
        try:
            queue.put_nowait((expires, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None
        self._expiring.append((expires, channel))

    async def receive(self, channel: str) -> dict[str, Any]:
        """The first message of ``channel`` that has not expired."""
        self.require_valid_channel_name(channel)
        self._clean_expired()
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            while True:
                expires, message = await queue.get()
                if expires >= time.time():
                    return message  # type: ignore[no-any-return]
                self._remove_from_groups(channel)
        finally:
            if queue.empty():
                self.channels.pop(channel, None)

    def _clean_expired(self) -> None:
        """Drop the messages that expired (their channels leave every group, as in Channels)."""
        now = time.time()
        expiring = self._expiring
        while expiring and expiring[0][0] < now:
            _, channel = expiring.popleft()
            queue = self.channels.get(channel)
            while queue is not None and not queue.empty() and queue._queue[0][0] < now:  # type: ignore[attr-defined]
                queue.get_nowait()
                self._remove_from_groups(channel)
                if queue.empty():
                    self.channels.pop(channel, None)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Channels' group send, skipping (and dropping) memberships older than the group expiry."""
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        members = self.groups.get(group)
        if not members:
            return
        joined_after = time.time() - self.group_expiry
        for channel, joined in list(members.items()):
            if joined and joined < joined_after:
                members.pop(channel, None)
                continue
            try:
                await self.send(channel, message)
            except ChannelFull:
                pass

    async def flush(self) -> None:
        await super().flush()
        self._expiring.clear()


class ChannelGone(Exception):
    """The channel belongs to a server process that stopped saying it is alive (it died)."""


class RelayRedisChannelLayer(RedisChannelLayer):
    alive_for = ALIVE_FOR
    alive_every = ALIVE_EVERY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._alive_key: str | None = None
        self._alive_task: asyncio.Task[None] | None = None

    def alive_key(self, channel: str) -> str:
        """Where the process owning a process-specific ``channel`` keeps its alive stamp."""
        return f"{self.prefix}alive:{self.non_local_name(channel)}"

    async def new_channel(self, prefix: str = "specific") -> str:
        """A channel of this process, which says it is alive from now on (see the module doc)."""
        channel = await super().new_channel(prefix)
        task = self._alive_task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._alive_key = self.alive_key(channel)
            await self._alive_stamp()
            self._alive_task = asyncio.ensure_future(self._alive_renew())
        return channel

    async def _alive_stamp(self) -> None:
        # On every host: a send's script reads it on the host of the channel it sends to.
        assert self._alive_key is not None
        until = time.time() + self.alive_for
        for index in range(self.ring_size):
            await self.connection(index).set(self._alive_key, until, ex=ALIVE_KEPT)

    async def _alive_renew(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        # Not ``while True``: redis-py can swallow a cancellation that lands inside one of its
        # calls (seen: close_pools waiting for ever on a task still renewing, "cancelling").
        while not task.cancelling():
            await asyncio.sleep(self.alive_every)
            try:
                await self._alive_stamp()
            except (OSError, asyncio.TimeoutError, redis.exceptions.RedisError):
                pass  # Redis is down: the sockets' own calls report it; renewed once it answers
        raise asyncio.CancelledError

    async def close_pools(self) -> None:
        task, self._alive_task = self._alive_task, None
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            await asyncio.wait({task}, timeout=ALIVE_STOP_TIMEOUT)
        await super().close_pools()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        if "!" in channel:
            # A process-specific channel: its process's list, the full name inside.
            message = {**message, "__asgi_channel__": channel}
            key = self.prefix + self.non_local_name(channel)
            alive = self.alive_key(channel)
            index = self.consistent_hash(channel)
        else:
            key = self.prefix + channel
            alive = f"{self.prefix}alive:"  # never written: a plain channel has no process
            index = next(self._send_index_generator)
        now = time.time()
        added = await self.connection(index).eval(
            _SEND, 2, key, alive, self.serialize(message), now, int(now) - int(self.expiry),
            self.get_capacity(channel), int(self.expiry),
        )
        if added == -1:
            raise ChannelGone(channel)
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
