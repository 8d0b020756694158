"""Staff pages: bot profiles (edited here), the bots in lobbies (seen and removed), and the workers."""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils import timezone

from audit.admin import AuditedAdminMixin
from bots import services
from bots.analytics import analytics_context
from bots.models import Bot, BotProfile, BotWorker, Conversation, Turn, TurnAnalytics
from lobbies.events import emit_on_commit
from signaling.exceptions import PeerNotFoundError


@admin.register(BotProfile)
class BotProfileAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "id", "kind", "language", "voice", "updated_at")
    list_filter = ("kind", "language")
    search_fields = ("id", "name", "description")
    prepopulated_fields = {"id": ("name",)}
    fieldsets = (
        (None, {"fields": ("id", "name", "kind", "description")}),
        ("Voice and language", {"fields": ("voice", "language", "greeting")}),
        ("Answers (assistants)", {"fields": ("instructions", "providers", "tools", "answer_length", "temperature")}),
    )


@admin.register(Bot)
class BotAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "profile", "lobby", "state", "worker", "lease_until", "claims", "created_at")
    list_filter = ("kind", "state")
    search_fields = ("session__id", "session__name", "lobby__id", "lobby__name")
    readonly_fields = ("session", "lobby", "kind", "profile", "state", "requested_by", "worker", "lease_until",
                       "claims", "created_at")
    actions = ["remove_bots"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("session", "lobby", "profile", "worker")

    @admin.display(description="name", ordering="session__name")
    def name(self, bot: Bot) -> str:
        return bot.session.name

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # bots are added from a lobby, by its participants

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # removing goes through "remove", which tells the lobby

    @admin.action(description="Remove the selected bots from their lobbies")
    def remove_bots(self, request: HttpRequest, queryset: QuerySet) -> None:
        removed = 0
        for lobby_id, session_id in queryset.values_list("lobby_id", "session_id"):
            try:
                emit_on_commit(services.bot_remove(lobby_id=lobby_id, session_id=None, bot_session_id=session_id))
                removed += 1
            except PeerNotFoundError:
                pass
        self.message_user(request, f"Removed {removed} bots.", messages.SUCCESS)


class CarriedInline(admin.TabularInline):
    model = Bot
    fields = ("session", "kind", "lobby", "state", "lease_until")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "bots it carries"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(BotWorker)
class BotWorkerAdmin(admin.ModelAdmin):
    list_display = ("id", "host", "pid", "alive", "carried", "capacity", "last_heartbeat", "started_at")
    readonly_fields = ("id", "host", "pid", "capacity", "started_at", "last_heartbeat", "kinds", "stats")
    inlines = [CarriedInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(carried_total=Count("bots"))

    @admin.display(description="bots", ordering="carried_total")
    def carried(self, worker: BotWorker) -> int:
        return worker.carried_total  # type: ignore[attr-defined]

    @admin.display(boolean=True)
    def alive(self, worker: BotWorker) -> bool:
        return worker.last_heartbeat >= timezone.now() - timedelta(seconds=settings.VOICEBOT_BOT_LEASE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(AuditedAdminMixin, ReadOnlyAdmin):
    """The assistants' transcripts: who said what, and what the bot said as far as it was heard."""

    list_display = ("bot_name", "lobby", "profile", "items", "created_at", "updated_at")
    list_filter = ("profile",)
    search_fields = ("bot_name", "lobby__id", "lobby__name", "bot_session_id")
    fields = ("bot_name", "bot_session_id", "lobby", "profile", "items", "created_at", "updated_at", "transcript")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("lobby", "profile")

    @admin.display(description="transcript")
    def transcript(self, conversation: Conversation) -> str:
        items = conversation.data.get("items", []) if isinstance(conversation.data, dict) else []
        dropped = conversation.data.get("dropped", 0) if isinstance(conversation.data, dict) else 0
        lines = format_html_join(
            "", "<li><time>{}</time> <strong>{}</strong>{}: {}</li>",
            ((datetime.fromtimestamp(float(item.get("at", 0)), tz=dt_timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
              item.get("speaker_name", ""), " (the bot)" if item.get("role") == "assistant" else "",
              str(item.get("text", "")) + (" [interrupted]" if item.get("interrupted") else ""))
             for item in items if isinstance(item, dict)),
        )
        note = format_html("<p>{} earlier lines were dropped to keep within the token budget.</p>", dropped) \
            if dropped else ""
        return format_html('{}<ol class="transcript">{}</ol>', note, lines)


@admin.register(Turn)
class TurnAdmin(ReadOnlyAdmin):
    list_display = ("speech_ended_at", "profile_id", "llm_provider", "outcome", "voice_to_voice", "transcription",
                    "llm_first_token", "tts_first_audio", "overhead", "fallback", "interrupted")
    list_filter = ("outcome", "profile_id", "llm_provider", "fallback", "interrupted")
    search_fields = ("lobby_id", "bot_session_id", "turn_id")


@admin.register(TurnAnalytics)
class TurnAnalyticsAdmin(ReadOnlyAdmin):
    """Percentiles per profile and provider, and a chart of the last 24 hours."""

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm("bots.view_turn")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Assistant analytics (last 24 hours)",
                   "opts": self.model._meta, **analytics_context()}
        return TemplateResponse(request, "admin/bots/analytics.html", context)
