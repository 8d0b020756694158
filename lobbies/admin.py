"""Staff pages for sessions, lobbies and participants."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from audit.actors import actor_from_request
from audit.admin import AuditedAdminMixin
from errors.admin import short_time
from lobbies import moderation, services
from lobbies.events import emit_on_commit
from lobbies.models import ChatMessage, GuestSession, Lobby, Participant, SeatWaiter, ServerInstance


class ParticipantInline(admin.TabularInline):
    model = Participant
    fields = ("name", "session", "status", "muted", "is_bot", "joined_at", "disconnected_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("open", "Open"), ("closed", "Closed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "open":
            return queryset.filter(closed_at__isnull=True)
        if self.value() == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset


@admin.register(Lobby)
class LobbyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "id", "people", "private", "has_password", "created", "empty", "closed")
    list_filter = (OpenFilter, "private", "created_at")
    search_fields = ("name", "description", "id")
    readonly_fields = ("id", "created_by", "created_at", "empty_since", "closed_at", "has_password")
    fields = ("id", "name", "description", "private", "max_participants", "has_password", "created_by", "created_at",
              "empty_since", "closed_at")
    inlines = [ParticipantInline]
    actions = ["close_lobbies"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(participant_total=Count("participants"))

    @admin.display(description="people", ordering="participant_total")
    def people(self, lobby: Lobby) -> str:
        return f"{lobby.participant_total} of {lobby.max_participants}"  # type: ignore[attr-defined]

    @admin.display(description="created", ordering="created_at")
    def created(self, lobby: Lobby) -> str:
        return short_time(lobby.created_at)

    @admin.display(description="empty since", ordering="empty_since")
    def empty(self, lobby: Lobby) -> str:
        return short_time(lobby.empty_since)

    @admin.display(description="closed", ordering="closed_at")
    def closed(self, lobby: Lobby) -> str:
        return short_time(lobby.closed_at)

    @admin.display(boolean=True, description="password")
    def has_password(self, lobby: Lobby) -> bool:
        return lobby.has_password

    @admin.action(description="Close the selected lobbies (everyone in them is disconnected)")
    def close_lobbies(self, request: HttpRequest, queryset: QuerySet) -> None:
        closed = 0
        for lobby_id in queryset.values_list("pk", flat=True):
            emitted = moderation.lobby_close(lobby_id=lobby_id, by=actor_from_request(request))
            emit_on_commit(emitted)
            closed += bool(emitted)
        self.message_user(
            request, ngettext("Closed %d lobby.", "Closed %d lobbies.", closed) % closed, messages.SUCCESS
        )


@admin.register(Participant)
class ParticipantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "lobby", "session", "status", "muted", "is_bot", "joined_at", "disconnected_at")
    list_filter = ("status", "muted", "is_bot")
    search_fields = ("name", "session__id", "lobby__id", "lobby__name")
    readonly_fields = ("lobby", "session", "name", "is_bot", "muted", "status", "instance_id", "joined_at",
                       "disconnected_at")
    exclude = ("channel_name", "name_key")
    actions = ["remove_participants"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleting must go through "remove", which tells the lobby and closes the socket.
        return False

    @admin.action(description="Remove the selected participants from their lobby (kick)")
    def remove_participants(self, request: HttpRequest, queryset: QuerySet) -> None:
        removed = 0
        for participant_id in queryset.values_list("pk", flat=True):
            emitted = moderation.participant_kick(participant_id=participant_id, by=actor_from_request(request))
            emit_on_commit(emitted)
            removed += bool(emitted)
        self.message_user(
            request, ngettext("Removed %d participant.", "Removed %d participants.", removed) % removed,
            messages.SUCCESS,
        )


@admin.register(GuestSession)
class GuestSessionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("id", "name", "is_bot", "created_at")
    list_filter = ("is_bot", "created_at")
    search_fields = ("id", "name")
    readonly_fields = ("id", "name", "is_bot", "created_at")


@admin.register(ChatMessage)
class ChatMessageAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("lobby", "name", "text", "created_at")
    search_fields = ("lobby__id", "name", "text", "session_id")
    readonly_fields = ("lobby", "session_id", "name", "text", "created_at")


@admin.register(ServerInstance)
class ServerInstanceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("id", "host", "pid", "started_at", "last_heartbeat")
    readonly_fields = ("id", "host", "pid", "started_at", "last_heartbeat")


@admin.register(SeatWaiter)
class SeatWaiterAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("lobby", "session", "queued_at", "notified_at", "disconnected_at")
    readonly_fields = ("lobby", "session", "channel_name", "instance_id", "queued_at", "notified_at",
                       "disconnected_at", "position_sent")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
