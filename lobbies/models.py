"""Guest sessions, lobbies, their participants and chat, and server presence."""
from __future__ import annotations

import secrets
import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

MIN_PARTICIPANTS = 2
MAX_PARTICIPANTS = 16
DEFAULT_MAX_PARTICIPANTS = 8
NAME_MAX_LENGTH = 32
LOBBY_NAME_MAX_LENGTH = 64
LOBBY_DESCRIPTION_MAX_LENGTH = 200
CHAT_TEXT_MAX_LENGTH = 2000
CHAT_HISTORY_LENGTH = 50


def new_session_id() -> str:
    return uuid.uuid4().hex


def new_lobby_id() -> str:
    # 12 URL-safe characters, 72 random bits: short enough for a share link.
    return secrets.token_urlsafe(9)


class GuestSession(models.Model):
    """A visitor (or a bot) known by a public id; its token is never stored."""

    id = models.CharField(primary_key=True, max_length=32, default=new_session_id, editable=False)
    name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True, help_text="Default display name.")
    is_bot = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or 'guest'} ({self.id[:8]})"


class Lobby(models.Model):
    id = models.CharField(primary_key=True, max_length=16, default=new_lobby_id, editable=False)
    name = models.CharField(max_length=LOBBY_NAME_MAX_LENGTH)
    description = models.CharField(max_length=LOBBY_DESCRIPTION_MAX_LENGTH, blank=True)
    private = models.BooleanField(default=False, help_text="Private lobbies are unlisted.")
    password_hash = models.CharField(max_length=256, blank=True, editable=False)
    max_participants = models.PositiveSmallIntegerField(
        default=DEFAULT_MAX_PARTICIPANTS,
        validators=[MinValueValidator(MIN_PARTICIPANTS), MaxValueValidator(MAX_PARTICIPANTS)],
    )
    created_by = models.ForeignKey(
        GuestSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="created_lobbies"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Since when the open lobby has had no participant (None while someone holds a
    # seat); an empty lobby closes VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER seconds after it.
    empty_since = models.DateTimeField(null=True, blank=True, db_index=True)
    locked = models.BooleanField(default=False, help_text="A locked lobby lets no one new in (resumes still).")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "lobbies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_participants__gte=MIN_PARTICIPANTS)
                & models.Q(max_participants__lte=MAX_PARTICIPANTS),
                name="lobby_max_participants_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class ServerInstance(models.Model):
    """A running server process; its heartbeat tells the others it is alive."""

    id = models.CharField(primary_key=True, max_length=32)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


class Participant(models.Model):
    class Status(models.TextChoices):
        CONNECTED = "connected"
        RECONNECTING = "reconnecting"

    class BotState(models.TextChoices):
        """What a bot participant is doing (its ``bot.state``); empty for a person."""

        STARTING = "starting"
        LISTENING = "listening"
        THINKING = "thinking"
        SPEAKING = "speaking"
        UNAVAILABLE = "unavailable"

    lobby = models.ForeignKey(Lobby, on_delete=models.CASCADE, related_name="participants")
    # A session is in at most one lobby at a time.
    session = models.OneToOneField(GuestSession, on_delete=models.CASCADE, related_name="participant")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # The name folded for comparison: unique in a lobby ignoring case.
    name_key = models.CharField(max_length=NAME_MAX_LENGTH * 3, editable=False)
    is_bot = models.BooleanField(default=False)
    muted = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTED, db_index=True)
    # The socket's channel while connected; empty while reconnecting.
    channel_name = models.CharField(max_length=200, blank=True)
    # The server process holding the socket (a ServerInstance id).
    instance_id = models.CharField(max_length=32, blank=True, db_index=True)
    # Changes on every join and resume, so that late events can be told apart.
    epoch = models.CharField(max_length=32, default=new_session_id, editable=False)
    joined_at = models.DateTimeField(auto_now_add=True)
    disconnected_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The client address it joined from (as the trusted proxies give it): a kick bars it too.
    address = models.CharField(max_length=64, blank=True, editable=False)
    # A bot's kind, profile id and state (its ``bot`` object); empty for a person.
    bot_kind = models.CharField(max_length=32, blank=True)
    bot_profile = models.CharField(max_length=64, blank=True)
    bot_state = models.CharField(max_length=16, choices=BotState.choices, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lobby", "name_key"], name="participant_name_unique_in_lobby"),
        ]

    def __str__(self) -> str:
        return f"{self.name} in {self.lobby_id}"


class LobbyBan(models.Model):
    """A session and address kicked from a lobby, barred from joining it again until ``until``."""

    lobby = models.ForeignKey(Lobby, on_delete=models.CASCADE, related_name="bans")
    session_id = models.CharField(max_length=32, db_index=True)
    address = models.CharField(max_length=64, blank=True, db_index=True)
    until = models.DateTimeField(db_index=True)
    # Who kicked: "staff ann", "session 4f1c0a9e" (the lobby's creator).
    by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-until"]

    def __str__(self) -> str:
        return f"{self.session_id[:8]} barred from {self.lobby_id} until {self.until:%Y-%m-%d %H:%M:%S}"


class ChatMessage(models.Model):
    lobby = models.ForeignKey(Lobby, on_delete=models.CASCADE, related_name="chat_messages")
    session_id = models.CharField(max_length=32)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    text = models.TextField(max_length=CHAT_TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    # The sender's idempotency key: a digest of the chat frame's ``id``, so
    # that a frame sent again after ``recovery: "retry"`` is not stored twice.
    client_key = models.CharField(max_length=64, blank=True, editable=False)
    # Sent by a bot; a transcript names the session that spoke.
    is_bot = models.BooleanField(default=False)
    transcript_speaker_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["lobby", "-id"], name="chat_lobby_newest")]
        constraints = [
            models.UniqueConstraint(
                fields=["lobby", "session_id", "client_key"], condition=~models.Q(client_key=""),
                name="chat_client_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.text[:40]}"


class SeatWaiter(models.Model):
    """A session waiting for a seat in a full lobby; the queue's order is ``id``."""

    lobby = models.ForeignKey(Lobby, on_delete=models.CASCADE, related_name="seat_waiters")
    session = models.ForeignKey(GuestSession, on_delete=models.CASCADE, related_name="seat_waits")
    # The waiting socket's channel and server process; empty while its socket is gone.
    channel_name = models.CharField(max_length=200, blank=True)
    instance_id = models.CharField(max_length=32, blank=True, db_index=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # When it was told a seat is free for it (it holds that seat a while).
    notified_at = models.DateTimeField(null=True, blank=True)
    # The place in the queue it was last told.
    position_sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["lobby", "session"], name="seat_waiter_once_per_lobby"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id[:8]} waiting for {self.lobby_id}"
