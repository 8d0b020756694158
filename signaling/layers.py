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

``RelayRedisChannelLayer`` is the Redis layer with sends batched and one
reader per process. channels-redis sends a message in four commands, each
waiting for the last (drop expired messages, count, add, refresh the expiry),
and each socket receives through a loop of its own (two tasks and a wait per
message). A relay to a socket of another process is one send and one receive,
so that is most of what crossing processes costs. Here ``send`` queues its
message for one script that sends everything the process's sockets sent
meanwhile to that Redis host: the same steps per message, the same capacity
check (``ChannelFull``), expiry and message format, so that any channels-redis
process reads what it sends, and one answer per message. On the receiving
side one task per process takes every waiting message (up to
``RECEIVE_BATCH``) in one script, with the same backup set that puts them back
should the receive be cancelled before they reach their sockets, and puts each
into its socket's inbox (signaling.inbox) as the in-memory layer does; a relay
is handed to its socket at once when nothing waits before it. A process none
of whose sockets has an inbox (channels-redis's own tests) receives as
channels-redis does, a batch at a time.

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
import functools
import secrets
import time
from collections import deque
from typing import Any

import redis.asyncio
import redis.exceptions
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from redis.commands.core import AsyncScript

from errors.boundary import report_error
from resilience.channel_layer import channel_layer
from signaling.inbox import RELAY, inbox_local

# Messages one receive from Redis takes at most, and one send script carries at most.
RECEIVE_BATCH = 256
SEND_BATCH = 256
# Seconds between the scores of two messages sent one after the other (a score is the
# time sent; a float of today's time in seconds is exact to about 0.24 µs).
SCORE_STEP = 1e-6
# Seconds the reader of a process's messages pauses after a batch it could not read.
READ_FAILED_PAUSE = 0.5

# A process says it is alive until this many seconds ahead, every ALIVE_EVERY seconds.
ALIVE_FOR = 3.0
ALIVE_EVERY = 1.0
# How long Redis keeps a process's alive stamp after its last renewal.
ALIVE_KEPT = 86400
# Seconds close_pools waits for the layer's own tasks (the alive renewal, the readers, the senders) to
# stop; a pool is never kept open longer for them.
TASKS_STOP_TIMEOUT = 2.0

# Sends of one batch, one message each: KEYS[2n - 1] the channel's sorted set,
# KEYS[2n] the receiving process's alive stamp; ARGV[1] now, ARGV[2] drop
# scores up to this, ARGV[3] expiry in seconds, then per message ARGV[3n + 1]
# the message, ARGV[3n + 2] its score, ARGV[3n + 3] its channel's capacity.
# Returns per message 1 (added), 0 (the channel is full) or -1 (its process is
# gone). Each channel is trimmed and counted once per batch.
_SEND_MANY = """
local now = tonumber(ARGV[1])
local gone, sizes, added, results = {}, {}, {}, {}
for n = 1, #KEYS / 2 do
    local key, alive_key = KEYS[2 * n - 1], KEYS[2 * n]
    local is_gone = gone[alive_key]
    if is_gone == nil then
        local alive = redis.call('GET', alive_key)
        is_gone = (alive and tonumber(alive) < now) or false
        gone[alive_key] = is_gone
    end
    if is_gone then
        results[n] = -1
    else
        local size = sizes[key]
        if size == nil then
            redis.call('ZREMRANGEBYSCORE', key, 0, ARGV[2])
            size = redis.call('ZCARD', key)
        end
        if size >= tonumber(ARGV[3 * n + 3]) then
            results[n] = 0
        else
            redis.call('ZADD', key, ARGV[3 * n + 2], ARGV[3 * n + 1])
            size = size + 1
            added[key] = true
            results[n] = 1
        end
        sizes[key] = size
    end
end
for key in pairs(added) do
    redis.call('EXPIRE', key, ARGV[3])
end
return results
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
        # (expires at, channel) of every queued message, in the order sent:
        # expiry times only grow, so the expired ones are always at the front.
        self._expiring: deque[tuple[float, str]] = deque()

    delivers_to_inboxes = True

    def inbox_opened(self, channel: str) -> None:
        """Nothing to do: ``send`` finds the inbox of a socket of this process itself."""

    async def new_channel(self, prefix: str = "specific.") -> str:
        """Channels' name for a new channel, ``<prefix>.inmemory!`` and 12 random characters (72 bits).

        Channels draws them with twelve ``random.choice`` calls, 1 % of a
        reconnect's bytecodes (bench.inprocess); one ``token_urlsafe`` gives as
        many characters, all allowed in a channel name.
        """
        return f"{prefix}.inmemory!{secrets.token_urlsafe(9)}"

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
        self._deliver(channel, message)

    def _deliver(self, channel: str, message: dict[str, Any]) -> None:
        """``send`` to a channel already known to be valid (a group's members were checked when added)."""
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
        assert "__asgi_channel__" not in message
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
                # In this call, without a name check (done at group_add) or a coroutine per member.
                self._deliver(channel, message)
            except ChannelFull:
                pass

    async def flush(self) -> None:
        await super().flush()
        self._expiring.clear()


class ChannelGone(Exception):
    """The channel belongs to a server process that stopped saying it is alive (it died)."""


class _Sending:
    """The sends waiting for one Redis host of one event loop, and the task that sends them."""

    __slots__ = ("loop", "waiting", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # (channel key, alive key, message, capacity, the sender's future)
        self.waiting: list[tuple[str, str, bytes, int, asyncio.Future[int]]] = []
        self.task: asyncio.Task[None] | None = None


class RelayRedisChannelLayer(RedisChannelLayer):
    alive_for = ALIVE_FOR
    alive_every = ALIVE_EVERY
    # This process's sockets read their messages from their inboxes (signaling.inbox),
    # into which one reader per process channel puts what it takes from Redis.
    delivers_to_inboxes = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._alive_key: str | None = None
        self._alive_task: asyncio.Task[None] | None = None
        self._sending: dict[int, _Sending] = {}
        self._last_score = 0.0
        # process channel ("specific.<process>!") -> the task reading it into inboxes
        self._readers: dict[str, asyncio.Task[None]] = {}
        # Sent by their SHA1 (EVALSHA), not as the whole text every time; made at first use.
        self._scripts: dict[str, AsyncScript] = {}

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
        loop = asyncio.get_running_loop()
        stopping = []
        task, self._alive_task = self._alive_task, None
        if task is not None and task.get_loop() is loop:
            stopping.append(task)
        for channel, reader in list(self._readers.items()):
            if reader.get_loop() is loop:
                del self._readers[channel]
                stopping.append(reader)
        for index, sending in list(self._sending.items()):
            if sending.loop is loop:
                del self._sending[index]
                if sending.task is not None:
                    stopping.append(sending.task)
        for task in stopping:
            task.cancel()
        if stopping:
            await asyncio.wait(stopping, timeout=TASKS_STOP_TIMEOUT)
        await super().close_pools()

    def _script(self, connection: redis.asyncio.Redis, text: str) -> AsyncScript:
        script = self._scripts.get(text)
        if script is None:
            script = self._scripts[text] = connection.register_script(text)
        return script

    # --- Sending ------------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue ``message`` for the next batch to its Redis host, and wait for that batch's answer.

        What the event loop's other tasks send meanwhile goes in the same
        batch (one script, one round trip); what they send while a batch is
        on its way goes in the next one. Each message gets its own answer:
        ``ChannelFull`` for a full channel, ``ChannelGone`` for a channel whose
        process stopped saying it is alive.
        """
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
        loop = asyncio.get_running_loop()
        sending = self._sending.get(index)
        if sending is None or sending.loop is not loop:
            sending = self._sending[index] = _Sending(loop)
        answer: asyncio.Future[int] = loop.create_future()
        sending.waiting.append((key, alive, self.serialize(message), self.get_capacity(channel), answer))
        if sending.task is None:
            sending.task = loop.create_task(self._send_batches(index, sending))
        added = await answer
        if added == -1:
            raise ChannelGone(channel)
        if not added:
            raise ChannelFull()

    async def _send_batches(self, index: int, sending: _Sending) -> None:
        """Send what waits for host ``index``, a batch at a time, until nothing does."""
        connection = self.connection(index)
        script = self._script(connection, _SEND_MANY)
        try:
            while sending.waiting:
                # A sender cancelled before its batch left is not sent for.
                batch = [item for item in sending.waiting[:SEND_BATCH] if not item[4].done()]
                del sending.waiting[:SEND_BATCH]
                if not batch:
                    continue
                now = time.time()
                keys: list[str] = []
                args: list[Any] = [now, int(now) - int(self.expiry), int(self.expiry)]
                for key, alive, payload, capacity, _ in batch:
                    # Scores rise strictly, so that one channel's messages are read in the
                    # order sent (equal scores would be read in the order of their bytes).
                    score = self._last_score = max(now, self._last_score + SCORE_STEP)
                    keys += (key, alive)
                    args += (payload, score, capacity)
                try:
                    answers = await script(keys=keys, args=args, client=connection)
                except Exception as exc:  # noqa: BLE001 - every sender of the batch gets the failure
                    for *_, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for (*_, answer), added in zip(batch, answers):
                    if not answer.done():
                        answer.set_result(added)
        finally:
            sending.task = None
            if sending.waiting:
                # Stopped (the layer is closing) with sends waiting: they fail as a lost connection would.
                lost = ConnectionError("the channel layer was closed before this message was sent")
                for *_, answer in sending.waiting:
                    if not answer.done():
                        answer.set_exception(lost)
                sending.waiting.clear()

    # --- Receiving ----------------------------------------------------

    def inbox_opened(self, channel: str) -> None:
        """A socket of this process reads ``channel`` from its inbox: make sure its process channel is read."""
        process_channel = self.non_local_name(channel)
        loop = asyncio.get_running_loop()
        reader = self._readers.get(process_channel)
        if reader is None or reader.done() or reader.get_loop() is not loop:
            self._readers[process_channel] = loop.create_task(self._read_into_inboxes(process_channel))

    async def _read_into_inboxes(self, process_channel: str) -> None:
        """Take every message for this process and put each into the inbox of its socket.

        One task per process channel, instead of channels-redis's receive per
        socket (two tasks and a wait per message for each). It waits out a
        Redis outage as a socket's receive did (the guarded layer's
        ``receive_with``); a message it cannot read or deliver is reported,
        not fatal: the other sockets' messages keep coming.
        """
        task = asyncio.current_task()
        assert task is not None
        receive = functools.partial(self.receive_batch, process_channel)
        while not task.cancelling():
            try:
                received = await channel_layer().receive_with(receive)
            except Exception as exc:  # noqa: BLE001 - not an outage (those are waited out): reported, read again
                report_error(exc, transport="internal", where="channel_layer.read")
                await asyncio.sleep(READ_FAILED_PAUSE)
                continue
            for target, message in received:
                try:
                    self._deliver(target, message)
                except Exception as exc:  # noqa: BLE001 - one socket's failure is not the others'
                    report_error(exc, transport="internal", where="channel_layer.deliver")
        raise asyncio.CancelledError

    def _deliver(self, target: str | list[str], message: dict[str, Any]) -> None:
        names = target if isinstance(target, list) else [target]
        for name in names:
            copy = dict(message) if len(names) > 1 else message
            inbox = inbox_local(name)
            if inbox is not None:
                try:
                    if copy.get("type") == RELAY:
                        inbox.deliver_relay(copy)
                    else:
                        inbox.deliver(copy)
                except ChannelFull:
                    # That socket has VOICEBOT_CHANNEL_CAPACITY messages unread (it is
                    # closed for not reading soon); its senders were told nothing, as
                    # with channels-redis, whose buffers drop the oldest.
                    pass
            elif name in self.receive_buffer:
                # Someone awaits ``receive`` on it (no socket of this process owns it).
                self.receive_buffer[name].put_nowait(copy)
            # else: the socket is gone; what was sent to it goes with it.

    async def receive(self, channel: str) -> dict[str, Any]:
        """channels-redis's receive, unless this process channel is read into inboxes: then from its buffer."""
        if "!" in channel:
            reader = self._readers.get(self.non_local_name(channel))
            if reader is not None and not reader.done() and reader.get_loop() is asyncio.get_running_loop():
                buffer = self.receive_buffer[channel]
                try:
                    return await buffer.get()  # type: ignore[no-any-return]
                finally:
                    if buffer.empty() and self.receive_buffer.get(channel) is buffer:
                        del self.receive_buffer[channel]
        return await super().receive(channel)  # type: ignore[no-any-return]

    async def receive_batch(self, process_channel: str) -> list[tuple[Any, dict[str, Any]]]:
        """Every waiting message of a process channel (up to RECEIVE_BATCH), or wait for one.

        Returns (target channel or channels, message) pairs, oldest first;
        an empty list when a blocking wait ended with nothing.
        """
        channel_key = self.prefix + process_channel
        backup_key = self._backup_channel_name(channel_key)
        index = self.consistent_hash(process_channel)
        connection = self.connection(index)
        await self.receive_clean_locks.acquire(channel_key)
        try:
            script = self._script(connection, _RECEIVE)
            popped = (await script(keys=[channel_key, backup_key], args=[RECEIVE_BATCH], client=connection))[0::2]
            if not popped:
                content = await self._brpop_with_clean(index, channel_key, timeout=self.brpop_timeout)
                popped = [] if content is None else [content]
        except BaseException:
            self.receive_clean_locks.release(channel_key)
            raise
        if not popped:
            self.receive_clean_locks.release(channel_key)
            return []
        # Delivered from here on without a pause: the backup can go. The
        # cleaner runs as a task of its own so that a cancelled receive does
        # not leave the messages to be put back and delivered twice.
        cleaner = asyncio.ensure_future(connection.delete(backup_key))
        self.receive_cleaners.append(cleaner)

        def cleaned(task: asyncio.Future[Any]) -> None:
            self.receive_cleaners.remove(task)
            self.receive_clean_locks.release(channel_key)

        cleaner.add_done_callback(cleaned)
        received = []
        for content in popped:
            try:
                received.append(self._addressed(process_channel, content))
            except Exception as exc:  # noqa: BLE001 - not a message of this layer's: the others still go
                report_error(exc, transport="internal", where="channel_layer.receive")
        return received

    async def receive_single(self, channel: str) -> tuple[Any, dict[str, Any]]:
        """Every waiting message of this process's channel, or wait for one (channels-redis's receive loop).

        All but the last go straight to their sockets' buffers, in order; the
        last is returned for ``receive`` to deliver, after them.
        """
        if "!" not in channel:
            return await super().receive_single(channel)
        received: list[tuple[Any, dict[str, Any]]] = []
        while not received:
            received = await self.receive_batch(channel)
        for target, message in received[:-1]:
            for name in target if isinstance(target, list) else [target]:
                self.receive_buffer[name].put_nowait(message)
        return received[-1]

    def _addressed(self, channel: str, content: bytes) -> tuple[Any, dict[str, Any]]:
        message = self.deserialize(content)
        target = message.pop("__asgi_channel__", channel)
        return target, message
