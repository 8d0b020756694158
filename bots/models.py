"""Bots in lobbies, the personalities staff give them, and the workers that run them."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from bots.assistant.llm.config import ProviderSelectionError, providers_select
from bots.assistant.tools import ToolSet, UnknownToolError
from lobbies.models import NAME_MAX_LENGTH, GuestSession, Lobby, Participant


class BotKind(models.TextChoices):
    """What a bot does; bots.kinds.catalog says which are built and how."""

    ECHO = "echo"
    ANNOUNCER = "announcer"
    CAPTIONER = "captioner"
    ASSISTANT = "assistant"


def default_tools() -> list[str]:
    return ["who_is_here", "mute_me", "leave"]


class BotProfile(models.Model):
    """A personality staff define for one kind of bot (its name, voice, instructions...)."""

    id = models.SlugField(primary_key=True, max_length=64, help_text="Clients name the profile by this id.")
    name = models.CharField(max_length=NAME_MAX_LENGTH, help_text="The bot's display name in the lobby.")
    kind = models.CharField(max_length=32, choices=BotKind.choices)
    description = models.CharField(max_length=300, blank=True, help_text="Shown to people choosing a bot.")
    voice = models.CharField(max_length=100, blank=True, help_text="The text-to-speech voice.")
    instructions = models.TextField(blank=True, help_text="How the bot behaves (for a language model).")
    greeting = models.CharField(max_length=500, blank=True, help_text="What the bot says when it joins.")
    language = models.CharField(max_length=16, default="en", help_text="A language tag, e.g. en or en-US.")
    providers = models.JSONField(
        default=list, blank=True,
        help_text='Language-model providers of VOICEBOT_LLM_PROVIDERS to try, in order, by name or 0-based index, '
                  'e.g. ["openai", "local"]; empty: all of them, in the setting\'s order.')
    tools = models.JSONField(
        default=default_tools, blank=True,
        help_text='Actions the language model may ask for: any of "who_is_here", "mute_me", "leave".')
    answer_length = models.PositiveSmallIntegerField(default=60, validators=[MinValueValidator(1)],
                                                     help_text="Most words in one spoken answer.")
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        # Checked where staff edit it, so that an assistant never starts with a profile it cannot use.
        if self.kind != BotKind.ASSISTANT:
            return
        errors: dict[str, str] = {}
        try:
            providers_select(self.providers)
        except ProviderSelectionError as exc:
            errors["providers"] = str(exc)
        if not isinstance(self.tools, list) or not all(isinstance(name, str) for name in self.tools):
            errors["tools"] = "The tools are a list of tool names."
        else:
            try:
                ToolSet(self.tools)
            except UnknownToolError as exc:
                errors["tools"] = str(exc)
        if errors:
            raise ValidationError(errors)


class BotWorker(models.Model):
    """A running ``manage.py runbots`` process; its heartbeat says it is alive."""

    id = models.CharField(primary_key=True, max_length=32)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    capacity = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField(db_index=True)
    # kind -> null when this worker can run it, else the reason in words.
    kinds = models.JSONField(default=dict, blank=True)
    # How it fares: bots and peer connections it runs, audio frames sent and sent late, CPU seconds.
    stats = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


class Bot(models.Model):
    """A bot added to a lobby: its own session, and the worker that holds it until its lease ends."""

    session = models.OneToOneField(GuestSession, on_delete=models.CASCADE, related_name="bot")
    lobby = models.ForeignKey(Lobby, on_delete=models.CASCADE, related_name="bots")
    kind = models.CharField(max_length=32, choices=BotKind.choices)
    profile = models.ForeignKey(BotProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="bots")
    state = models.CharField(max_length=16, choices=Participant.BotState.choices,
                             default=Participant.BotState.STARTING)
    # Who added it (a session id; the session may be gone since).
    requested_by = models.CharField(max_length=32, blank=True)
    worker = models.ForeignKey(BotWorker, null=True, blank=True, on_delete=models.SET_NULL, related_name="bots")
    # The worker holds the bot until then; its heartbeat moves it on.
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    # How many times a worker took the bot (1 for a bot that never moved).
    claims = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} bot {self.session_id[:8]} in {self.lobby_id}"


class Conversation(models.Model):
    """What was said in one lobby with one bot (bots.assistant.context's record), kept so that it carries on.

    Keyed by the bot's session: a bot resumed by another worker reads it back.
    It outlives the bot (staff read it in the admin) until the retention
    command deletes it (``manage.py prune_conversations``).
    """

    lobby = models.ForeignKey(Lobby, on_delete=models.CASCADE, related_name="bot_conversations")
    bot_session_id = models.CharField(max_length=32)
    bot_name = models.CharField(max_length=NAME_MAX_LENGTH)
    profile = models.ForeignKey(BotProfile, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="conversations")
    # Conversation.to_dict(): version, items (speaker, text, time, interrupted), dropped.
    data = models.JSONField(default=dict)
    items = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lobby", "bot_session_id"], name="one_conversation_per_bot")]
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.bot_name} in {self.lobby_id}"


class Turn(models.Model):
    """One turn of an assistant measured (bots.assistant.metrics.TurnMetrics), for the analytics."""

    turn_id = models.CharField(max_length=32, unique=True)
    lobby_id = models.CharField(max_length=32, db_index=True)
    bot_session_id = models.CharField(max_length=32)
    profile_id = models.CharField(max_length=64, blank=True, db_index=True)
    speaker_session_id = models.CharField(max_length=32, blank=True)
    speech_ended_at = models.DateTimeField(db_index=True)
    # Seconds; null when the turn never reached that stage.
    transcription = models.FloatField(null=True, blank=True)
    end_of_turn = models.FloatField(null=True, blank=True)
    llm_first_token = models.FloatField(null=True, blank=True)
    tts_first_audio = models.FloatField(null=True, blank=True)
    voice_to_voice = models.FloatField(null=True, blank=True)
    overhead = models.FloatField(null=True, blank=True)
    stt_provider = models.CharField(max_length=64, blank=True)
    llm_provider = models.CharField(max_length=64, blank=True, db_index=True)
    llm_providers = models.JSONField(default=list, blank=True)
    tts_provider = models.CharField(max_length=64, blank=True)
    fallback = models.BooleanField(default=False)
    interrupted = models.BooleanField(default=False)
    cut = models.BooleanField(default=False)
    error = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, db_index=True)

    class Meta:
        ordering = ["-speech_ended_at"]

    def __str__(self) -> str:
        return f"turn {self.turn_id[:8]} ({self.outcome})"


class TurnAnalytics(Turn):
    """No data of its own: puts the assistants' analytics page on the admin index."""

    class Meta:
        proxy = True
        verbose_name = "assistant analytics"
        verbose_name_plural = "assistant analytics"
