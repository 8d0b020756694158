"""The lobby WebSocket: one consumer per socket, speaking the protocol.

Frames are decoded once, validated, handed to one service and answered.
Relays (offers, answers, ICE candidates) are the hot path: the sender checks
the peer against this socket's roster (kept current by the lobby's events, no
database) and encodes the outgoing frame once; a peer on this server process
gets it in its inbox (``signaling.inbox``), or in the sender's call when
nothing waits before it there (``relay_arrived``), a peer on another process
through one channel-layer send. The receiving socket forwards the text as it is, once
it knows the sender: a relay that overtook its sender's ``participant_joined``
(events always travel through the channel layer) waits for it.
"""
from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import ChannelFull, StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bots import selectors as bot_selectors
from bots import services as bot_services
from errors.boundary import report_error
from errors.consumers import ErrorBoundaryMixin
from errors.exceptions import (
    AlreadyJoinedError,
    ForbiddenError,
    InvalidJsonError,
    InvalidMessageError,
    MessageTooLargeError,
    NotJoinedError,
    RateLimitedError,
    UnauthenticatedError,
    UnknownMessageTypeError,
)
from errors.throttle import FixedWindow, rate_parse, window_for
from audit.actors import Actor
from lobbies import hot_sql, moderation, seats, services
from lobbies.exceptions import InvalidLobbyPasswordError, LobbyFullError, LobbyNotFoundError, PasswordCheckRequired
from lobbies.passwords import lobby_password_verify
from lobbies.events import Event, emit, lobby_group, session_group
from lobbies.presence import INSTANCE_ID, presence_ensure_running
from lobbies.presenters import chat_public, lobby_public, participant_public
from ops.metrics import RELAYS_COUNTED, WEBSOCKETS_OPEN
from resilience.channel_layer import channel_layer, layer_unavailable
from resilience.database import db_call
from signaling.deferred import DeferredLayerWork
from signaling.dispatch import ARRIVED, Mailbox, dispatch_from
from signaling.exceptions import PeerNotFoundError, PlaceLostError, SendQueueFullError
from signaling.inbox import RELAY, Inbox, inbox_local
from signaling.layers import ChannelGone
from signaling.outbox import Outbox
from signaling.roster import CONNECTED, LobbyEventsMixin, peer_entry
from signaling.validation import ice_candidate_clean, session_description_clean
from signaling.wire import frame_dumps, frame_loads
from voicebot_site.settings_snapshot import SettingsSnapshot

# The settings every client frame reads ("400/1 second" as ``limits`` writes a rate), and every socket.
SOCKET_SETTINGS = SettingsSnapshot(max_frame_bytes="VOICEBOT_MAX_FRAME_BYTES", frame_rate="VOICEBOT_FRAME_RATE",
                                   send_queue_frames="VOICEBOT_SEND_QUEUE_FRAMES",
                                   send_queue_bytes="VOICEBOT_SEND_QUEUE_BYTES")

# Seconds a socket closed for not reading gets to take its close frame.
SEND_QUEUE_CLOSE_TIMEOUT = 1.0
# Seconds a closing socket waits for the channel-layer work its frames started.
DEFERRED_DRAIN_TIMEOUT = 2.0

# Chat limits, kept in this process's memory (keys are per session).
_limits_storage = MemoryStorage()
_chat_limiter = MovingWindowRateLimiter(_limits_storage)



def _check_session(session_id: str, lobby_id: str) -> bool:
    """Whether the session is a bot's; unauthenticated or lobby_not_found when it may not connect."""
    is_bot, lobby_open = hot_sql.session_admission(session_id=session_id, lobby_id=lobby_id)
    if is_bot is None:
        raise UnauthenticatedError("Your session no longer exists. Start a new session.",
                                   context={"token": "session_gone"})
    if not lobby_open:
        raise LobbyNotFoundError()
    return is_bot


# Message types and their handlers' names (Channels' get_handler_name, once per type).
HANDLER_NAMES_KEPT = 256
_handler_names: dict[str, str] = {}


class HandlerDispatchConsumer(AsyncWebsocketConsumer):
    """Channels' consumer with a lighter message loop and dispatch.

    ``AsyncConsumer.dispatch`` runs ``close_old_connections`` in the sync
    thread before each handler, a thread hop per frame and per event, and
    ``websocket_disconnect`` does it once more after ``disconnect``. This
    consumer never uses the ORM on the event loop's thread: its database work
    goes through ``db_call``, which closes stale connections on the thread
    that runs it, so neither hop is taken. ``__call__`` is Channels' (4.3)
    with ``dispatch_from`` in place of ``await_many_dispatch`` (see
    signaling.dispatch).
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        self.mailbox = Mailbox(asyncio.get_running_loop())
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            if not self.channel_pushes:
                sources.append(self.channel_receive)
        try:
            await dispatch_from(sources, self.dispatch, self.mailbox)
        except StopConsumer:
            pass

    # True when this socket's channel messages are put into its mailbox by their senders (no pump reads them).
    channel_pushes = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        name = _handler_names.get(kind) if isinstance(kind, str) else None
        if name is None:
            name = get_handler_name(message)  # refuses a malformed type
            if len(_handler_names) < HANDLER_NAMES_KEPT:
                _handler_names[kind] = name
        handler = getattr(self, name, None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' (4.3) without its ``aclose_old_connections``: the groups left, ``disconnect``, the end."""
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.disconnect(message["code"])
        raise StopConsumer()


class LobbyConsumer(ErrorBoundaryMixin, LobbyEventsMixin, HandlerDispatchConsumer):
    session_id: str
    lobby_id: str
    inbox: Inbox
    frame_window: FixedWindow | None = None  # this socket's frame limit (VOICEBOT_FRAME_RATE)
    frame_arrived: float | None = None
    is_bot: bool = False  # a bot's session (bot-only frames are refused from others)

    # --- Connection ---------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Everything the consumer sends goes through its outbox, which never
        # waits for the client (see signaling.outbox).
        self.outbox = Outbox(send, max_frames=SOCKET_SETTINGS.send_queue_frames,
                             max_bytes=SOCKET_SETTINGS.send_queue_bytes)
        self.deferred = DeferredLayerWork(self.deferred_failed)
        try:
            await super().__call__(scope, receive, self.outbox.put)
        finally:
            try:
                await self.deferred.drain(timeout=DEFERRED_DRAIN_TIMEOUT)
                await self.deferred.aclose()
                # However the loop ended, the socket's place and groups are given
                # up once (the disconnect hook always runs).
                await self.depart(1006)
            except Exception as exc:  # noqa: BLE001 - reported; the socket is gone either way
                report_error(exc, transport="websocket", where="websocket.disconnect",
                             lobby_id=getattr(self, "lobby_id", None), session_id=getattr(self, "session_id", None))
            finally:
                channel = getattr(self, "channel_name", None)
                if channel:
                    channel_layer().channel_forget(channel)
                await self.outbox.aclose()
                inbox = getattr(self, "inbox", None)
                if inbox is not None:
                    inbox.close()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # A client frame's arrival (signaling.dispatch), for its frame rate.
        self.frame_arrived = message.get(ARRIVED)
        await super().dispatch(message)
        if self.outbox.overflowed and not self.socket_closed:
            await self.close_unread()

    async def close_unread(self) -> None:
        """The client stopped reading and its outbox passed its bound: close it, leave as dropped."""
        # Relays to it are dropped from now on: its peers did nothing wrong.
        self.inbox.drop_all()
        await self.handle_error(SendQueueFullError(), {"type": "websocket.send_queue"})
        await self.depart(SendQueueFullError.close_code)
        # A client that resumes reading gets the error and the close; one that
        # never does is not waited for.
        await self.outbox.drain(timeout=SEND_QUEUE_CLOSE_TIMEOUT)
        raise StopConsumer()

    # Channels sets ``channel_receive`` once, to the layer's receive for this
    # socket's channel. The consumer reads its inbox instead, which hands out
    # this process's relays and the (guarded) layer's messages.
    @property
    def channel_receive(self) -> Any:
        return self.inbox.receive

    @channel_receive.setter
    def channel_receive(self, receive: Any) -> None:
        ErrorBoundaryMixin.channel_receive.fset(self, receive)  # type: ignore[attr-defined]
        # The project's layers put this channel's messages into the inbox themselves.
        delivers_here = getattr(self.channel_layer, "delivers_to_inboxes", False)
        self.inbox = Inbox(
            self.channel_name,
            None if delivers_here else ErrorBoundaryMixin.channel_receive.fget(self),  # type: ignore[attr-defined]
        )
        self.inbox.direct = self.relay_arrived
        if delivers_here:
            # What the layer delivers goes into the loop's mailbox: no pump task
            # and future wait on the inbox for the socket's life.
            self.inbox.attach(self.mailbox)
            self.channel_pushes = True
            self.channel_layer.inbox_opened(self.channel_name)

    def relay_arrived(self, event: dict[str, Any]) -> bool:
        """``peer_relay`` in the sending socket's call, when that changes nothing a client sees; False: not taken.

        Taken only between two messages of this consumer's loop, with no
        channel message waiting before the relay (no join half done, no event
        that changes the roster yet to be handled: the client's own frames
        that wait are not ordered with relays to it), and when the roster
        knows the sender's socket; anything else goes through the loop as
        before (held until the sender is known, dropped when it is not
        connected).
        """
        box = self.mailbox  # ``box.between_messages``, in line: this runs for every relay
        if box.dispatching or box.others or not self.joined or event["lobby_id"] != self.lobby_id:
            return False
        peer = self.roster.get(event["sender"])
        if peer is None or peer.epoch != event["epoch"]:
            return False
        if peer.status == CONNECTED:
            self.outbox.put_nowait({"type": "websocket.send", "text": event["text"]})
            if self.outbox.overflowed:
                # The loop closes a socket that does not read; wake it to do so.
                try:
                    self.inbox.deliver({"type": "outbox.overflowed"})
                except ChannelFull:
                    pass  # the loop has work queued already, and checks after each message
        return True

    async def outbox_overflowed(self, event: dict[str, Any]) -> None:
        """The outbox passed its bound taking a relay (``relay_arrived``): ``dispatch`` closes the socket."""

    async def presence_lost(self, event: dict[str, Any]) -> None:
        """Another process took this one for dead (signaling.receivers): a socket with a place reconnects for it."""
        if self.joined or self.waiting:
            raise PlaceLostError()

    async def connect(self) -> None:
        self.lobby_id = self.scope["url_route"]["kwargs"]["lobby_id"]
        self.session_id = self.scope.get("voicebot_session_id") or ""
        self.epoch = ""
        self.waiting = False  # in the lobby's queue for a seat (lobbies.seats)
        self.roster_clear()
        self.layer = channel_layer()
        if not self.session_id:
            raise self.scope.get("voicebot_auth_error") or UnauthenticatedError()
        self.is_bot = await db_call(_check_session)(self.session_id, self.lobby_id)
        await self.accept()
        self.socket_accepted = True
        self.counted_open = True
        WEBSOCKETS_OPEN.inc()
        presence_ensure_running()
        # Tell an older socket of this session to step down, then listen for
        # the next one.
        group = session_group(self.session_id)
        await self.layer.group_send(group, {"type": "session.replaced", "channel": self.channel_name})
        await self.layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        # What the socket's last frames started goes out before it leaves.
        await self.deferred.drain(timeout=DEFERRED_DRAIN_TIMEOUT)
        await self.depart(code)

    async def depart(self, code: int) -> None:
        """The socket is gone: count it closed, hold or give up its place, leave its groups; once."""
        if getattr(self, "departed", False):
            return
        self.departed = True
        if getattr(self, "counted_open", False):
            self.counted_open = False
            WEBSOCKETS_OPEN.dec()
        if not getattr(self, "session_id", ""):
            return
        emitted: list[Event] = []
        if self.joined:
            self.joined = False
            emitted = await db_call(services.participant_disconnect)(
                session_id=self.session_id, lobby_id=self.lobby_id, channel_name=self.channel_name
            )
            await emit(emitted)
        if self.waiting:
            # Closed on purpose (1000: "Stop waiting") the place in the queue goes; a drop keeps it a while.
            await db_call(seats.seat_waiter_disconnect)(
                lobby_id=self.lobby_id, session_id=self.session_id, channel_name=self.channel_name, gone=code == 1000
            )
        # The event of the place given up (or held for the grace period) has
        # already taken this channel out of the groups it names.
        left = {group for event in emitted if self.channel_name in event.discard
                for group in (event.group, *event.discard_from)}
        for group in (lobby_group(self.lobby_id), session_group(self.session_id)):
            if group not in left:
                await self.layer.group_discard(group, self.channel_name)

    def error_scope(self) -> tuple[str | None, str | None]:
        return getattr(self, "lobby_id", None), getattr(self, "session_id", None) or None

    # --- Frames -------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        """A client frame (Channels' ``websocket_receive`` hands it to ``receive``; here it is handled in place)."""
        text_data = message.get("text")
        if text_data is None:
            raise InvalidMessageError("Binary frames are not part of the protocol: send JSON text frames.")
        limits = SOCKET_SETTINGS
        if len(text_data) * 4 > limits.max_frame_bytes and len(text_data.encode("utf-8")) > limits.max_frame_bytes:
            raise MessageTooLargeError()
        try:
            frame = frame_loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise InvalidJsonError() from None
        if not isinstance(frame, dict):
            raise InvalidMessageError()
        frame_id = frame.get("id")
        if frame_id is not None and not isinstance(frame_id, str):
            raise InvalidMessageError("'id' must be a string.")
        # Set before the type is checked: an error about the frame still names it.
        self.frame_id = frame_id
        if not isinstance(frame.get("type"), str):
            raise InvalidMessageError()
        handler = FRAME_HANDLERS.get(frame["type"])
        if handler is None:
            self.frame_type = "unknown"
            raise UnknownMessageTypeError(f"Unknown message type. Known types: {', '.join(FRAME_HANDLERS)}.")
        self.frame_type = frame["type"]
        self.frame_window = window_for(self.frame_window, FixedWindow, limits.frame_rate)
        # Counted when the frame arrived: frames that waited while this server
        # was held up (a stalled dependency) are not a burst of the client's.
        wait = self.frame_window.hit(self.frame_arrived)
        if wait is not None:
            raise RateLimitedError(retry_after=max(0.1, round(wait, 2)))
        waits = handler(self, frame)
        if waits is not None:  # a coroutine (the relays' handlers return None)
            await waits

    def defer(self, work: Any) -> None:
        """Run ``work()`` (channel-layer work of this frame) after the work queued before it, off the frame loop."""
        if self.deferred.full():
            raise layer_unavailable()
        self.deferred.submit(work, frame_type=self.frame_type, frame_id=self.frame_id)

    async def deferred_failed(self, exc: BaseException, frame_type: str | None, frame_id: str | None) -> None:
        """Deferred work failed: told as the error of the frame that started it."""
        current = self.frame_type, self.frame_id
        self.frame_type, self.frame_id = frame_type, frame_id
        try:
            # Never suspends (the outbox takes frames at once), so the frame
            # loop cannot run in between and see these values.
            await self.handle_error(exc, {"type": "websocket.receive"})
        finally:
            self.frame_type, self.frame_id = current

    def require_joined(self) -> None:
        if not self.joined:
            raise NotJoinedError()

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """Channels' ``send`` (4.3), into the outbox in this call instead of through ``AsyncConsumer.send``
        and ``base_send``: two coroutines fewer per frame (a peer's resume sends every other socket three)."""
        if text_data is not None:
            self.send_text(text_data)
        elif bytes_data is not None:
            self.outbox.put_nowait({"type": "websocket.send", "bytes": bytes_data})
        else:
            raise ValueError("You must pass one of bytes_data or text_data")
        if close:
            await self.close(close)

    def send_text(self, text: str) -> None:
        """One text frame into the outbox, which never waits (``send``, ``reply`` and ``send_frame`` use it)."""
        self.outbox.put_nowait({"type": "websocket.send", "text": text})

    async def reply(self, frame: dict[str, Any]) -> None:
        frame["in_reply_to"] = self.frame_id
        self.send_text(frame_dumps(frame))

    async def send_frame(self, frame: dict[str, Any]) -> None:
        self.send_text(frame_dumps(frame))

    async def frame_join(self, frame: dict[str, Any]) -> None:
        if self.joined:
            raise AlreadyJoinedError()
        group = lobby_group(self.lobby_id)
        # Listen before reading the roster, so that no change falls between.
        await self.layer.group_add(group, self.channel_name)
        try:
            result = await self.lobby_join(frame)
        except LobbyFullError as full:
            await self.layer.group_discard(group, self.channel_name)
            if full.position is not None:
                self.waiting = True
                # Where it stands in the queue, then the refusal itself.
                await self.send_frame({"type": "waiting_for_seat", "position": full.position})
            raise
        except BaseException:
            await self.layer.group_discard(group, self.channel_name)
            raise
        self.joined = True
        self.waiting = False
        self.epoch = result.participant.epoch
        self.moderator = result.lobby.created_by_id == self.session_id
        self.roster = dict(peer_entry(p.session_id, p.channel_name, p.status, p.epoch) for p in result.others)
        await emit(result.events)
        await self.reply(
            {
                "type": "joined",
                "lobby": lobby_public(result.lobby, participant_count=result.participant_count),
                "self": participant_public(result.participant),
                "participants": [participant_public(p) for p in result.others],
                "chat_history": [chat_public(m) for m in result.chat_history],
                "resumed": result.resumed,
                # This session created the lobby: it may kick, lock and close it.
                "can_moderate": self.moderator,
            }
        )
        # The newcomer offers to everyone connected (impolite side).
        for peer_id, peer in self.roster.items():
            if peer.status == CONNECTED:
                await self.send_frame(
                    {"type": "add_peer", "peer_id": peer_id, "should_create_offer": True, "polite": False}
                )

    async def lobby_join(self, frame: dict[str, Any]) -> services.JoinResult:
        """The join; a lobby password is checked off the database thread, within its limits."""
        bot = await db_call(bot_selectors.bot_identity)(session_id=self.session_id) if self.is_bot else None
        if self.is_bot and bot is None:
            raise UnauthenticatedError("This bot was removed from its lobby.")
        fields = {
            "lobby_id": self.lobby_id, "session_id": self.session_id, "name": frame.get("name"),
            "password": frame.get("password"), "channel_name": self.channel_name, "instance_id": INSTANCE_ID,
            "defer_password_check": True, "address": self.client_address,
            "bot_kind": bot.kind if bot else "", "bot_profile": bot.profile_id if bot else "",
        }
        try:
            return await db_call(services.lobby_join)(**fields)
        except PasswordCheckRequired as needed:
            verified = await lobby_password_verify(
                password=fields["password"], password_hash=needed.password_hash,
                session_id=self.session_id, address=self.client_address,
            )
        try:
            return await db_call(services.lobby_join)(**fields, password_hash_verified=verified)
        except PasswordCheckRequired:  # the lobby's password changed in between
            raise InvalidLobbyPasswordError() from None

    @property
    def client_address(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else "unknown"

    async def frame_leave(self, frame: dict[str, Any]) -> None:
        self.require_joined()
        emitted = await db_call(services.participant_leave)(
            session_id=self.session_id, lobby_id=self.lobby_id, channel_name=self.channel_name
        )
        self.roster_clear()
        await self.layer.group_discard(lobby_group(self.lobby_id), self.channel_name)
        await emit(emitted)

    async def frame_set_name(self, frame: dict[str, Any]) -> None:
        self.require_joined()
        emitted = await db_call(services.participant_rename)(
            session_id=self.session_id, lobby_id=self.lobby_id, name=frame.get("name")
        )
        self.defer(functools.partial(emit, emitted))

    async def frame_set_muted(self, frame: dict[str, Any]) -> None:
        self.require_joined()
        muted = frame.get("muted")
        if not isinstance(muted, bool):
            raise InvalidMessageError("'muted' must be true or false.")
        if "peer_id" in frame:
            # A bot mutes someone else (an assistant asked "mute me"); never unmutes.
            if not self.is_bot:
                raise ForbiddenError("Only a bot mutes another participant.")
            if muted is not True or not isinstance(frame["peer_id"], str):
                raise InvalidMessageError("A bot's 'set_muted' with 'peer_id' must have 'muted': true.")
            emitted = await db_call(moderation.participant_mute_by_bot)(
                bot_session_id=self.session_id, lobby_id=self.lobby_id, peer_id=frame["peer_id"]
            )
        else:
            emitted = await db_call(services.participant_set_muted)(
                session_id=self.session_id, lobby_id=self.lobby_id, muted=muted
            )
        self.defer(functools.partial(emit, emitted))

    async def frame_chat(self, frame: dict[str, Any]) -> None:
        self.require_joined()
        # A bot (a captioner's transcripts of everyone) may say more than a person types.
        limit = rate_parse(settings.VOICEBOT_BOT_CHAT_RATE if self.is_bot else settings.VOICEBOT_CHAT_RATE)
        if not _chat_limiter.hit(limit, "chat", self.session_id):
            reset_at, _ = _chat_limiter.get_window_stats(limit, "chat", self.session_id)
            raise RateLimitedError(
                "You are sending chat messages too fast. Wait a moment.",
                retry_after=max(0.1, round(reset_at - time.time(), 2)),
            )
        if "transcript" in frame and not self.is_bot:
            raise ForbiddenError("Only a bot posts transcripts.")
        emitted = await db_call(services.chat_post)(
            session_id=self.session_id, lobby_id=self.lobby_id, text=frame.get("text"),
            sender_channel=self.channel_name, frame_id=self.frame_id, transcript=frame.get("transcript"),
        )
        self.defer(functools.partial(emit, emitted))

    async def frame_set_bot_state(self, frame: dict[str, Any]) -> None:
        if not self.is_bot:
            raise ForbiddenError("Only a bot has a bot state.")
        self.require_joined()
        emitted = await db_call(bot_services.bot_state_set)(
            session_id=self.session_id, lobby_id=self.lobby_id, state=frame.get("state")
        )
        self.defer(functools.partial(emit, emitted))

    # --- Moderation by the lobby's creator -------------------------------

    @property
    def actor(self) -> Actor:
        return Actor(session_id=self.session_id, address=self.client_address)

    async def frame_kick(self, frame: dict[str, Any]) -> None:
        self.require_joined()
        await emit(await db_call(moderation.lobby_member_kick)(
            lobby_id=self.lobby_id, session_id=self.session_id, peer_id=frame.get("peer_id"), by=self.actor
        ))

    async def frame_lock_lobby(self, frame: dict[str, Any]) -> None:
        self.require_joined()
        await emit(await db_call(moderation.lobby_set_locked)(
            lobby_id=self.lobby_id, session_id=self.session_id, locked=frame.get("locked"), by=self.actor
        ))

    async def frame_close_lobby(self, frame: dict[str, Any]) -> None:
        self.require_joined()
        await emit(await db_call(moderation.lobby_close)(
            lobby_id=self.lobby_id, session_id=self.session_id, by=self.actor
        ))

    async def frame_ping(self, frame: dict[str, Any]) -> None:
        await self.reply({"type": "pong"})

    def peer_channel(self, frame: dict[str, Any]) -> tuple[str, str]:
        self.require_joined()
        peer_id = frame.get("peer_id")
        if not isinstance(peer_id, str):
            raise InvalidMessageError("'peer_id' must be a string.")
        peer = self.roster.get(peer_id)
        if peer is None or peer.status != CONNECTED or peer_id == self.session_id:
            raise PeerNotFoundError()
        return peer_id, peer.channel

    # The relays never wait (a relay to another process is deferred), so they
    # are plain functions: no coroutine per frame (see ``websocket_receive``).
    def frame_relay_session_description(self, frame: dict[str, Any]) -> None:
        _, channel = self.peer_channel(frame)
        description = session_description_clean(frame.get("description"))
        self.relay(channel, {"type": "session_description", "peer_id": self.session_id, "description": description})

    def frame_relay_ice_candidate(self, frame: dict[str, Any]) -> None:
        _, channel = self.peer_channel(frame)
        candidate = ice_candidate_clean(frame.get("candidate"))
        self.relay(channel, {"type": "ice_candidate", "peer_id": self.session_id, "candidate": candidate})

    def relay(self, channel: str, frame: dict[str, Any]) -> None:
        message = {
            "type": RELAY,
            "lobby_id": self.lobby_id,
            "sender": self.session_id,
            "epoch": self.epoch,
            "text": frame_dumps(frame),
        }
        inbox = inbox_local(channel)
        if inbox is not None:
            inbox.put_relay(message)
        else:
            # Through Redis, after this socket's earlier layer work: later
            # relays to peers of this process do not wait for it.
            self.defer(functools.partial(self.relay_remote, channel, message))
        RELAYS_COUNTED.inc()


    async def relay_remote(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.layer.send(channel, message)
        except ChannelGone:
            # The peer's server process died: the presence sweep will say so;
            # meanwhile the sender is told instead of its relays vanishing.
            raise PeerNotFoundError(
                "That participant's connection was lost; it will be back or leave shortly.",
                context={"reason": "server_process_gone"},
            ) from None


FRAME_HANDLERS = {
    "join": LobbyConsumer.frame_join,
    "leave": LobbyConsumer.frame_leave,
    "set_name": LobbyConsumer.frame_set_name,
    "set_muted": LobbyConsumer.frame_set_muted,
    "relay_session_description": LobbyConsumer.frame_relay_session_description,
    "relay_ice_candidate": LobbyConsumer.frame_relay_ice_candidate,
    "chat": LobbyConsumer.frame_chat,
    "kick": LobbyConsumer.frame_kick,
    "lock_lobby": LobbyConsumer.frame_lock_lobby,
    "close_lobby": LobbyConsumer.frame_close_lobby,
    "ping": LobbyConsumer.frame_ping,
    "set_bot_state": LobbyConsumer.frame_set_bot_state,
}
