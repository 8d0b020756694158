"""Two real server processes serving one lobby through Redis, one of them crashing; the layers they use.

The processes share one database and one Redis key prefix. With REDIS_URL
set they use that Redis; on the embedded default the test starts a
redis-server of its own on a free loopback port (and an SQLite file shared by
both processes).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer
from django.conf import settings as django_settings

from resilience.channel_layer import GuardedChannelLayer
from signaling.inbox import Inbox
from signaling.layers import ChannelGone, RelayRedisChannelLayer
from signaling.tests.test_e2e import CANDIDATE, OFFER, Peer, post
from web.tests.live_server import LiveServer, ServerBackends
from web.tests.polling import eventually

pytestmark = pytest.mark.e2e

RELAYS = 200


def two_servers(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, name: str, settings: dict[str, str], **options: str,
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two server processes sharing one database and one Redis, with ``settings`` in their environment."""
    workdir = tmp_path_factory.mktemp(name)
    backends = ServerBackends(workdir)
    started: list[LiveServer] = []
    try:
        backends.prepare()
        env = backends.open_inside()
        env.setdefault("REDIS_URL", redis_url)
        env.update(settings)
        for which in ("one", "two"):
            live = LiveServer(env, workdir / f"server-{which}.log", **options)
            started.append(live)
            live.start()
        yield started[0], started[1]
    finally:
        for live in started:
            live.stop()
        backends.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    # A grace long enough that a crashed process's participants are still
    # reconnecting when they come back.
    yield from two_servers(tmp_path_factory, redis_url, "multiprocess", {"VOICEBOT_RECONNECT_GRACE": "60"})


@pytest.fixture
async def relay_layers(
    request: pytest.FixtureRequest, redis_url: str,
) -> AsyncIterator[tuple[RelayRedisChannelLayer, RedisChannelLayer]]:
    """Two layers on one prefix, as two processes have them: ours, and channels-redis's own."""
    prefix = f"voicebot-layer-{uuid.uuid4().hex[:8]}"
    capacity = getattr(request, "param", 3)
    config = {"hosts": [redis_url], "prefix": prefix, "capacity": capacity, "expiry": 60}
    ours, theirs = RelayRedisChannelLayer(**config), RedisChannelLayer(**config)
    yield ours, theirs
    await ours.flush()
    await ours.close_pools()
    await theirs.close_pools()


async def test_one_round_trip_send_is_read_by_channels_redis(relay_layers) -> None:
    ours, theirs = relay_layers
    channel = await theirs.new_channel()
    await ours.send(channel, {"type": "peer.relay", "text": "one"})
    await ours.send(channel, {"type": "peer.relay", "text": "two"})
    assert await theirs.receive(channel) == {"type": "peer.relay", "text": "one"}
    assert await theirs.receive(channel) == {"type": "peer.relay", "text": "two"}
    await ours.send("plain", {"type": "x"})
    assert await theirs.receive("plain") == {"type": "x"}


async def test_one_round_trip_send_refuses_a_full_channel(relay_layers) -> None:
    ours, theirs = relay_layers
    channel = await theirs.new_channel()
    for n in range(3):
        await ours.send(channel, {"type": "peer.relay", "n": n})
    with pytest.raises(ChannelFull):
        await ours.send(channel, {"type": "peer.relay", "n": 3})
    assert [(await theirs.receive(channel))["n"] for _ in range(3)] == [0, 1, 2]
    await ours.send(channel, {"type": "peer.relay", "n": 4})
    assert (await theirs.receive(channel))["n"] == 4


async def send_to_each_then_to_a_group(
    ours: RelayRedisChannelLayer, theirs: RedisChannelLayer, channels: list[str], *, count: int, message_type: str,
) -> None:
    """From ``theirs``: messages numbered 0 to ``count`` - 1 to each channel, then ``count`` to a group of the first two."""
    for channel in channels[:2]:
        await ours.group_add("lobby.batch", channel)
    for n in range(count):
        for channel in channels:
            await theirs.send(channel, {"type": message_type, "n": n})
    await theirs.group_send("lobby.batch", {"type": "lobby.chat", "n": count})


@pytest.mark.parametrize("relay_layers", [100], indirect=True)
async def test_batch_receive_hands_each_socket_its_messages_in_order(relay_layers) -> None:
    ours, theirs = relay_layers
    channels = [await ours.new_channel() for _ in range(3)]
    await send_to_each_then_to_a_group(ours, theirs, channels, count=10, message_type="peer.relay")
    for channel in channels:
        assert [(await ours.receive(channel))["n"] for _ in range(10)] == list(range(10))
    for channel in channels[:2]:
        assert await ours.receive(channel) == {"type": "lobby.chat", "n": 10}
    backup = ours._backup_channel_name(ours.prefix + ours.non_local_name(channels[0]))
    await asyncio.gather(*ours.receive_cleaners)
    assert not await ours.connection(0).exists(backup)


def count_scripts(layer: RelayRedisChannelLayer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of keys of every script ``layer`` runs on its first host from now on."""
    connection = layer.connection(0)
    calls: list[int] = []
    evalsha = connection.evalsha

    async def counted(sha: str, numkeys: int, *args: object) -> object:
        calls.append(numkeys)
        return await evalsha(sha, numkeys, *args)

    monkeypatch.setattr(connection, "evalsha", counted)
    return calls


@pytest.mark.parametrize("relay_layers", [250], indirect=True)
async def test_the_sends_of_one_moment_go_in_one_script_each_with_its_own_answer(relay_layers, monkeypatch) -> None:
    ours, theirs = relay_layers
    channel = await theirs.new_channel()
    scripts = count_scripts(ours, monkeypatch)
    answers = await asyncio.gather(
        *(ours.send(channel, {"type": "peer.relay", "n": n}) for n in range(300)), return_exceptions=True,
    )
    # 300 sends, two scripts (SEND_BATCH is 256), two keys a message.
    assert scripts == [512, 88]
    assert answers[:250] == [None] * 250
    assert all(isinstance(answer, ChannelFull) for answer in answers[250:])
    # Read by channels-redis in the order sent: one batch's messages get rising scores.
    assert [(await theirs.receive(channel))["n"] for _ in range(250)] == list(range(250))


async def test_in_one_batch_only_the_message_to_a_gone_process_is_refused(relay_layers, monkeypatch) -> None:
    ours, theirs = relay_layers
    gone = RelayRedisChannelLayer(hosts=ours.hosts, prefix=ours.prefix)
    monkeypatch.setattr(gone, "alive_for", 0.2)
    try:
        dead_channel = await gone.new_channel()
        assert gone._alive_task is not None
        gone._alive_task.cancel()
        await asyncio.sleep(0.3)
        live_channel = await theirs.new_channel()
        scripts = count_scripts(ours, monkeypatch)
        answers = await asyncio.gather(
            ours.send(live_channel, {"type": "peer.relay", "n": 1}),
            ours.send(dead_channel, {"type": "peer.relay", "n": 2}),
            ours.send(live_channel, {"type": "peer.relay", "n": 3}),
            return_exceptions=True,
        )
        assert len(scripts) == 1
        assert answers[0] is None and isinstance(answers[1], ChannelGone) and answers[2] is None
        assert [(await theirs.receive(live_channel))["n"] for _ in range(2)] == [1, 3]
    finally:
        await gone.close_pools()


async def test_a_sender_cancelled_before_its_batch_left_is_not_sent_for(relay_layers) -> None:
    ours, theirs = relay_layers
    channel = await theirs.new_channel()
    cancelled = asyncio.ensure_future(ours.send(channel, {"type": "peer.relay", "n": 1}))
    await asyncio.sleep(0)  # queued; the batch leaves at the loop's next turn
    cancelled.cancel()
    await ours.send(channel, {"type": "peer.relay", "n": 2})
    assert (await theirs.receive(channel))["n"] == 2
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(theirs.receive(channel), 0.3)


@pytest.mark.parametrize("relay_layers", [100], indirect=True)
async def test_the_reader_puts_each_message_into_its_sockets_inbox(relay_layers, settings, caplog) -> None:
    ours, theirs = relay_layers
    settings.VOICEBOT_CHANNEL_CAPACITY = 5
    channels = [await ours.new_channel() for _ in range(3)]
    inboxes = [Inbox(channel, None) for channel in channels]
    taken: list[dict[str, object]] = []
    inboxes[2].direct = lambda message: taken.append(message) or True
    try:
        for channel in channels:
            ours.inbox_opened(channel)
        await send_to_each_then_to_a_group(ours, theirs, channels, count=3, message_type="lobby.event")
        for inbox in inboxes[:2]:
            assert [(await inbox.receive())["n"] for _ in range(4)] == [0, 1, 2, 3]
        assert [(await inboxes[2].receive())["n"] for _ in range(3)] == [0, 1, 2]
        # A relay, with nothing waiting before it, goes to its socket at once (waited for up to 5 s:
        # the reader takes it in its own time, later on a busy machine). Sent only now that the
        # socket has taken what came before: sent earlier, it may come in the same batch as those
        # messages and wait behind them, as it should.
        await theirs.send(channels[2], {"type": "peer.relay", "n": 4})

        async def handed_over() -> list[dict[str, object]]:
            return taken

        await eventually(handed_over, deadline=5, interval=0.05, what="the relay handed to its socket")
        assert taken == [{"type": "peer.relay", "n": 4}]
        # Past the inbox's capacity the reader drops what comes, relays too (the socket is not
        # reading), and goes on.
        for n in range(7):
            await theirs.send(channels[0], {"type": "lobby.event", "n": n})
        await theirs.send(channels[0], {"type": "peer.relay", "n": 50})
        await theirs.send(channels[1], {"type": "lobby.event", "n": 99})
        assert (await asyncio.wait_for(inboxes[1].receive(), 2))["n"] == 99
        assert [(await inboxes[0].receive())["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
        # Dropped, not failed: the senders were told nothing, and nothing is reported.
        assert not [record for record in caplog.records if record.name == "voicebot.errors"]
        # A channel no socket owns: what someone awaits with receive() reaches it; the rest is dropped.
        orphan = await ours.new_channel()
        waiting = asyncio.ensure_future(ours.receive(orphan))
        await asyncio.sleep(0.05)
        await theirs.send(orphan, {"type": "lobby.event", "n": 5})
        assert (await asyncio.wait_for(waiting, 2))["n"] == 5
        await theirs.send(orphan, {"type": "lobby.event", "n": 6})
        await asyncio.sleep(0.2)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ours.receive(orphan), 0.3)
    finally:
        for inbox in inboxes:
            inbox.close()


async def test_an_unreadable_message_is_reported_and_the_reader_goes_on(relay_layers, caplog) -> None:
    ours, theirs = relay_layers
    channel = await ours.new_channel()
    inbox = Inbox(channel, None)
    try:
        ours.inbox_opened(channel)
        # Something that is not one of the layer's messages, among two that are, in one batch.
        await theirs.send(channel, {"type": "lobby.event", "n": 1})
        key = ours.prefix + ours.non_local_name(channel)
        await ours.connection(0).zadd(key, {b"not msgpack \xc1": time.time()})
        await theirs.send(channel, {"type": "lobby.event", "n": 2})
        assert [(await asyncio.wait_for(inbox.receive(), 2))["n"] for _ in range(2)] == [1, 2]
        assert any(record.getMessage().startswith("internal_error") for record in caplog.records
                   if record.name == "voicebot.errors"), [record.getMessage() for record in caplog.records]
    finally:
        inbox.close()


def new_lobby(server: LiveServer, name: str) -> str:
    owner = post(server, "/api/sessions", {})
    return str(post(server, "/api/lobbies", {"name": name, "max_participants": 8}, token=owner["token"])["id"])


async def join(peer: Peer, others: list[Peer]) -> None:
    """``peer`` joins; it gets add_peer for each of ``others``, who each see it join."""
    await peer.open()
    await peer.send({"type": "join"})
    await peer.receive("joined")
    for _ in others:
        await peer.receive("add_peer")
    for other in others:
        assert (await other.receive("participant_joined"))["participant"]["session_id"] == peer.session_id
        assert (await other.receive("add_peer"))["peer_id"] == peer.session_id


async def group_members(server: LiveServer, group: str) -> list[str]:
    """The channels in ``group`` in the servers' Redis."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(server.env["REDIS_URL"])
    try:
        members = await client.zrange(f"{server.env['VOICEBOT_CHANNEL_PREFIX']}:group:{group}", 0, -1)
    finally:
        await client.aclose()
    return [member.decode() for member in members]


async def close_all(*peers: Peer) -> None:
    for peer in peers:
        if peer.socket is not None:
            await peer.socket.close()


async def test_relays_cross_processes_in_order_and_none_is_lost(servers: tuple[LiveServer, LiveServer]) -> None:
    one, two = servers
    lobby_id = new_lobby(one, "Across processes")
    ann = Peer(one, lobby_id, "Ann")
    bob = Peer(two, lobby_id, "Bob")
    await join(ann, [])
    await join(bob, [ann])
    for n in range(RELAYS):
        candidate = {**CANDIDATE, "sdpMid": str(n)}
        await bob.send({"type": "relay_ice_candidate", "peer_id": ann.session_id, "candidate": candidate})
        await ann.send({"type": "relay_ice_candidate", "peer_id": bob.session_id, "candidate": candidate})
    for peer, sender in ((ann, bob), (bob, ann)):
        for n in range(RELAYS):
            frame = await peer.receive("ice_candidate")
            assert (frame["peer_id"], frame["candidate"]["sdpMid"]) == (sender.session_id, str(n))
    await close_all(ann, bob)


async def test_a_relay_never_overtakes_its_senders_join(servers: tuple[LiveServer, LiveServer]) -> None:
    """The join event travels through Redis, a relay between sockets of one process does not."""
    one, two = servers
    for attempt in range(5):
        lobby_id = new_lobby(one, f"Race {attempt}")
        ann = Peer(one, lobby_id, "Ann")
        await join(ann, [])
        newcomers = [Peer(one, lobby_id, "Cyd"), Peer(two, lobby_id, "Dee")]
        # Each newcomer offers to Ann right behind its join, without waiting
        # for an answer: its socket knows Ann from the roster it read.
        for newcomer in newcomers:
            await newcomer.open()
            await newcomer.send({"type": "join"})
            await newcomer.send({"type": "relay_session_description", "peer_id": ann.session_id,
                                 "description": OFFER})
        for newcomer in newcomers:
            await newcomer.receive("joined")
        seen: dict[str, list[str]] = {newcomer.session_id: [] for newcomer in newcomers}
        while any(len(kinds) < 3 for kinds in seen.values()):
            frame = await ann.receive_any()
            sender = frame.get("peer_id") or frame.get("participant", {}).get("session_id")
            if sender in seen:
                seen[sender].append(frame["type"])
        for kinds in seen.values():
            assert kinds == ["participant_joined", "add_peer", "session_description"], seen
        await close_all(ann, *newcomers)


async def test_crashed_process_hands_its_participants_to_the_grace_period(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    one, two = servers
    lobby_id = new_lobby(two, "Crash")
    ann = Peer(one, lobby_id, "Ann")
    bob = Peer(two, lobby_id, "Bob")
    await join(ann, [])
    await join(bob, [ann])
    [bob_channel] = await group_members(two, f"session.{bob.session_id}")

    # Ann's server process dies without a word: no disconnect handler runs.
    assert one.process is not None
    os.killpg(one.process.pid, signal.SIGKILL)
    one.process.wait(10)
    try:
        # The surviving process notices the stopped heartbeat (two intervals
        # of 1 s) and starts Ann's grace period.
        updated = await bob.receive("participant_updated")
        assert updated["participant"] == {**updated["participant"], "session_id": ann.session_id,
                                          "status": "reconnecting"}
        # Her dead socket is gone from her lobby's group and her session's group in Redis.
        assert await group_members(one, f"session.{ann.session_id}") == []
        assert await group_members(one, f"lobby.{lobby_id}") == [bob_channel]
        await bob.send({"type": "relay_ice_candidate", "peer_id": ann.session_id, "candidate": CANDIDATE})
        assert (await bob.receive("error"))["code"] == "peer_not_found"

        # Ann comes back through the other process with her token and resumes.
        ann.url = ann.url.replace(f":{one.port}/", f":{two.port}/")
        await ann.open()
        await ann.send({"type": "join"})
        resumed = await ann.receive("joined")
        assert resumed["resumed"] is True and resumed["self"]["name"] == "Ann"
        assert (await ann.receive("add_peer"))["peer_id"] == bob.session_id
        assert (await bob.receive("participant_updated"))["participant"]["status"] == "connected"
        assert (await bob.receive("remove_peer"))["peer_id"] == ann.session_id
        assert (await bob.receive("add_peer"))["peer_id"] == ann.session_id
        await ann.send({"type": "relay_session_description", "peer_id": bob.session_id, "description": OFFER})
        assert (await bob.receive("session_description"))["peer_id"] == ann.session_id
        await close_all(ann, bob)
    finally:
        one.stop()
        one.start()

    # The restarted process serves the lobby again, across processes.
    lobby_id = new_lobby(one, "After the crash")
    cyd, dee = Peer(one, lobby_id, "Cyd"), Peer(two, lobby_id, "Dee")
    await join(cyd, [])
    await join(dee, [cyd])
    await dee.send({"type": "relay_session_description", "peer_id": cyd.session_id, "description": OFFER})
    assert (await cyd.receive("session_description"))["peer_id"] == dee.session_id
    await close_all(cyd, dee)



async def test_a_send_to_a_process_that_stopped_saying_it_is_alive_is_refused(relay_layers, monkeypatch) -> None:
    ours, theirs = relay_layers
    receiver = RelayRedisChannelLayer(hosts=ours.hosts, prefix=ours.prefix, capacity=100)
    monkeypatch.setattr(receiver, "alive_for", 0.3)
    monkeypatch.setattr(receiver, "alive_every", 0.1)
    try:
        channel = await receiver.new_channel()
        await ours.send(channel, {"type": "peer.relay", "n": 1})
        assert (await receiver.receive(channel))["n"] == 1
        # The receiving process dies as SIGKILL leaves it: its stamp is no longer renewed.
        assert receiver._alive_task is not None
        receiver._alive_task.cancel()
        await asyncio.sleep(0.4)
        with pytest.raises(ChannelGone):
            await ours.send(channel, {"type": "peer.relay", "n": 2})
    finally:
        await receiver.close_pools()
    # A plain channels-redis process writes no stamp: it is sent to as before.
    plain = await theirs.new_channel()
    await ours.send(plain, {"type": "peer.relay", "n": 3})
    assert (await theirs.receive(plain))["n"] == 3


async def test_closing_stops_the_alive_renewal_even_when_a_redis_call_swallows_its_cancellation(
    relay_layers, monkeypatch
) -> None:
    # redis-py can swallow a cancellation that lands inside one of its calls: the renewal then
    # went on for ever and close_pools (flush, a loop's shutdown) waited on it (a 120 s hang seen
    # in channels-redis's own test_groups_multiple_hosts, one run in three).
    ours, _ = relay_layers
    monkeypatch.setattr(ours, "alive_every", 0.01)
    in_call = asyncio.Event()

    async def swallowing_stamp() -> None:
        in_call.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return  # as such a call does

    await ours.new_channel()
    task = ours._alive_task
    assert task is not None
    monkeypatch.setattr(ours, "_alive_stamp", swallowing_stamp)
    await asyncio.wait_for(in_call.wait(), 2)
    started = time.monotonic()
    await ours.close_pools()
    # Stopped by itself, well before close_pools' own limit (TASKS_STOP_TIMEOUT, 2 s).
    assert task.done() and time.monotonic() - started < 0.5


def test_redis_calls_wait_longer_than_channels_redis_blocks_in_a_receive() -> None:
    """redis-py's default 5 s read timeout raced channels-redis's 5 s blocking receive: idle processes
    saw timeouts that opened their channel-layer breaker (seen about 40 s after a peer process died)."""
    assert django_settings.VOICEBOT_REDIS_SOCKET_TIMEOUT > RedisChannelLayer.brpop_timeout


async def test_an_idle_receive_through_several_blocking_waits_is_no_failure(redis_url: str) -> None:
    layer = RelayRedisChannelLayer(
        hosts=[{"address": redis_url, "socket_timeout": django_settings.VOICEBOT_REDIS_SOCKET_TIMEOUT}],
        prefix=f"voicebot-idle-{uuid.uuid4().hex[:8]}",
    )
    guarded = GuardedChannelLayer(layer)
    failures = guarded.dependency.breaker.failures_total
    channel = await layer.new_channel()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(guarded.receive(channel), 11)  # two of channels-redis's 5 s waits
        assert guarded.dependency.breaker.failures_total == failures
    finally:
        await layer.close_pools()


@pytest.fixture(scope="module")
def slow_sweep_servers(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two processes whose sweep would take a minute to notice a dead one."""
    yield from two_servers(
        tmp_path_factory, redis_url, "slow-sweep", {"VOICEBOT_HEARTBEAT_INTERVAL": "30"}, server="uvicorn",
    )


async def test_relays_to_a_killed_process_are_refused_within_seconds_and_no_breaker_opens(
    slow_sweep_servers: tuple[LiveServer, LiveServer],
) -> None:
    one, two = slow_sweep_servers
    lobby_id = new_lobby(two, "Killed")
    ann, bob = Peer(one, lobby_id, "Ann"), Peer(two, lobby_id, "Bob")
    await join(ann, [])
    await join(bob, [ann])
    await bob.send({"type": "relay_ice_candidate", "peer_id": ann.session_id, "candidate": CANDIDATE})
    assert (await ann.receive("ice_candidate"))["peer_id"] == bob.session_id

    assert one.process is not None
    os.killpg(one.process.pid, signal.SIGKILL)
    one.process.wait(10)
    killed_at = asyncio.get_running_loop().time()
    refused = None
    for n in range(100):
        await bob.send({"type": "relay_ice_candidate", "peer_id": ann.session_id, "candidate": CANDIDATE,
                        "id": f"r{n}"})
        try:
            refused = json.loads(await asyncio.wait_for(bob.socket.recv(), 0.1))  # type: ignore[union-attr]
            break
        except asyncio.TimeoutError:
            continue
    assert refused is not None and refused["code"] == "peer_not_found", refused
    assert refused["in_reply_to"].startswith("r")
    assert asyncio.get_running_loop().time() - killed_at < 5.0  # the sweep would have taken 60 s
    # Bob's process sits idle now: its receives block in Redis, time after time, and are no failures.
    await asyncio.sleep(12)
    with urllib.request.urlopen(f"{two.url}/readyz", timeout=5) as response:
        assert "channel_layer=closed" in response.headers["Circuit-Breakers"]
    await close_all(bob)
