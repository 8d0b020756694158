"""Staff pages: error groups (triage), error events (read-only), the dashboard."""
from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.text import Truncator
from django.utils.translation import ngettext

from audit.admin import AuditedAdminMixin
from errors import services
from errors.selectors import correlation_id_searched, error_events_of_correlation_id
from errors.dashboard import dashboard_context
from errors.models import ErrorDashboard, ErrorEvent, ErrorGroup

LATEST_EVENTS_SHOWN = 20
# Characters of a title or message shown in a list (the full text is on its own page and in a tooltip).
LIST_TEXT_LENGTH = 70
# Characters of a 32-character id shown in a list; the full id is in its tooltip and in search.
SHORT_ID_LENGTH = 8


class NarrowListsMedia:
    """The stylesheet that keeps the lists' key columns in view at laptop widths."""

    css = {"all": ("errors/admin.css",)}


def admin_link(viewname: str, object_id: Any, text: str) -> str:
    """A link to an object's admin page, or its text alone when there is no such page."""
    if not object_id:
        return "-"
    try:
        url = reverse(viewname, args=[object_id])
    except NoReverseMatch:
        return text
    return format_html('<a href="{}">{}</a>', url, text)


def short_text(text: str, length: int = LIST_TEXT_LENGTH) -> str:
    """``text`` cut to ``length`` for a list cell, the whole of it in the cell's tooltip."""
    if len(text) <= length:
        return text
    return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(length))


def short_time(moment: Any) -> str:
    """A time as "2026-12-01 11:08" (the server's time zone): half the width of the admin's default."""
    if moment is None:
        return "-"
    return format_html('<time datetime="{}">{}</time>', moment.isoformat(), date_format(localtime(moment), "Y-m-d H:i"))


def short_id(value: str) -> str:
    return format_html('<span class="short-id" title="{}">{}</span>', value, value[:SHORT_ID_LENGTH]) if value else "-"


class LatestEventInline(admin.TabularInline):
    """The group's latest events (the newest LATEST_EVENTS_SHOWN)."""

    model = ErrorEvent
    verbose_name_plural = f"latest events (newest {LATEST_EVENTS_SHOWN})"
    # Ids shortened, so that the message keeps its width; each event's page has every field.
    fields = ("occurred", "event_message", "where", "correlation", "lobby", "session", "weight")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ("-occurred_at", "-id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ErrorEvent]:
        events = super().get_queryset(request)
        match = request.resolver_match
        object_id = match.kwargs.get("object_id") if match is not None else None
        if object_id is None:
            return events.none()
        latest = events.filter(group_id=object_id).order_by("-occurred_at", "-id").values_list("pk", flat=True)[
            :LATEST_EVENTS_SHOWN
        ]
        return events.filter(pk__in=list(latest))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="occurred at")
    def occurred(self, event: ErrorEvent) -> str:
        return short_time(event.occurred_at)

    @admin.display(description="message")
    def event_message(self, event: ErrorEvent) -> str:
        return event.message

    @admin.display(description="correlation id")
    def correlation(self, event: ErrorEvent) -> str:
        return short_id(event.correlation_id)

    @admin.display(description="lobby")
    def lobby(self, event: ErrorEvent) -> str:
        return event.lobby_id or "-"

    @admin.display(description="session")
    def session(self, event: ErrorEvent) -> str:
        return short_id(event.session_id)


@admin.register(ErrorGroup)
class ErrorGroupAdmin(AuditedAdminMixin, admin.ModelAdmin):
    # What went wrong (the title: its code and where), then the columns people triage by; no
    # column of the code alone (the title starts with it), so that all fit at laptop widths.
    list_display = ("short_title", "status", "regressed", "count", "last_seen_at", "first_seen_at", "severity",
                    "category")
    list_filter = ("status", "category", "severity", "regressed", "last_seen")
    search_fields = ("code", "title", "=events__correlation_id")
    readonly_fields = (
        "fingerprint", "code", "title", "category", "severity", "where", "transport", "status", "count",
        "first_seen", "last_seen", "regressed", "regressed_at", "resolved_at", "resolved_by",
    )
    fields = readonly_fields
    ordering = ("-last_seen",)
    date_hierarchy = "last_seen"
    inlines = [LatestEventInline]
    actions = ["resolve", "ignore", "reopen"]
    show_full_result_count = False
    Media = NarrowListsMedia

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="error", ordering="title")
    def short_title(self, group: ErrorGroup) -> str:
        return short_text(group.title)

    @admin.display(description="last seen", ordering="last_seen")
    def last_seen_at(self, group: ErrorGroup) -> str:
        return short_time(group.last_seen)

    @admin.display(description="first seen", ordering="first_seen")
    def first_seen_at(self, group: ErrorGroup) -> str:
        return short_time(group.first_seen)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        correlation_id = correlation_id_searched(search_term)
        if correlation_id:
            # Also the group of a weighted event standing for this id (beyond the sample).
            found |= queryset.filter(pk__in=error_events_of_correlation_id(correlation_id).values("group_id"))
        return found.distinct(), False

    @admin.action(description="Resolve the selected groups (a new event reopens them as regressed)",
                  permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[ErrorGroup]) -> None:
        changed = services.error_group_resolve(group_ids=list(queryset.values_list("pk", flat=True)), user=request.user)
        self.message_user(request, groups_changed("Resolved", changed), messages.SUCCESS)

    @admin.action(description="Ignore the selected groups (they keep counting)", permissions=["change"])
    def ignore(self, request: HttpRequest, queryset: QuerySet[ErrorGroup]) -> None:
        changed = services.error_group_ignore(group_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, groups_changed("Ignored", changed), messages.SUCCESS)

    @admin.action(description="Reopen the selected groups", permissions=["change"])
    def reopen(self, request: HttpRequest, queryset: QuerySet[ErrorGroup]) -> None:
        changed = services.error_group_reopen(group_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, groups_changed("Reopened", changed), messages.SUCCESS)


def groups_changed(verb: str, count: int) -> str:
    return ngettext("%(verb)s %(count)d error group.", "%(verb)s %(count)d error groups.", count) % {
        "verb": verb, "count": count,
    }


@admin.register(ErrorEvent)
class ErrorEventAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("occurred", "group_link", "short_message", "severity", "where", "lobby_link",
                    "session_link", "short_correlation_id", "weight")
    list_filter = ("severity", "group__category", "transport", "occurred_at")
    search_fields = ("=correlation_id", "=lobby_id", "=session_id", "group__code")
    list_select_related = ("group",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    Media = NarrowListsMedia
    fields = (
        "group_link", "occurred_at", "correlation_id", "severity", "message", "transport", "where", "path",
        "lobby_link", "session_link", "host", "pid", "weight", "pretty_context", "pretty_traceback",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        correlation_id = correlation_id_searched(search_term)
        if correlation_id:
            # Also the weighted event that stands for this id (beyond the sample).
            found |= queryset.filter(pk__in=error_events_of_correlation_id(correlation_id).values("pk"))
        return found, may_have_duplicates

    @admin.display(description="group", ordering="group__code")
    def group_link(self, event: ErrorEvent) -> str:
        return admin_link("admin:errors_errorgroup_change", event.group_id, short_text(event.group.title, 40))

    @admin.display(description="lobby")
    def lobby_link(self, event: ErrorEvent) -> str:
        return admin_link("admin:lobbies_lobby_change", event.lobby_id, event.lobby_id)

    @admin.display(description="session")
    def session_link(self, event: ErrorEvent) -> str:
        return admin_link("admin:lobbies_guestsession_change", event.session_id, short_id(event.session_id))

    @admin.display(description="occurred at", ordering="occurred_at")
    def occurred(self, event: ErrorEvent) -> str:
        return short_time(event.occurred_at)

    @admin.display(description="message")
    def short_message(self, event: ErrorEvent) -> str:
        return short_text(event.message)

    @admin.display(description="correlation id", ordering="correlation_id")
    def short_correlation_id(self, event: ErrorEvent) -> str:
        return short_id(event.correlation_id)

    @admin.display(description="context")
    def pretty_context(self, event: ErrorEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.context, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.display(description="traceback")
    def pretty_traceback(self, event: ErrorEvent) -> str:
        return format_html("<pre>{}</pre>", event.traceback) if event.traceback else "-"


@admin.register(ErrorDashboard)
class ErrorDashboardAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The dashboard page, reached from the admin index like a model."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm("errors.view_errorgroup")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Errors dashboard",
            "opts": self.model._meta,
            **dashboard_context(),
        }
        return TemplateResponse(request, "admin/errors/dashboard.html", context)
