"""Staff pages of the security audit log, and the mixin that audits any ModelAdmin.

``AuditedAdminMixin`` (put it before ``admin.ModelAdmin``) records every add,
change and delete made through that admin, and every admin action run from
its list, as audit events with who, from where and what: any app's admin
(lobbies, errors, bot profiles) gets it by adding the mixin.
"""
from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from audit.actors import actor_from_request
from audit.choices import AuditKind
from audit.models import AuditEvent
from audit.services import audit_record

# Objects an audited action names at most.
ACTION_TARGETS_KEPT = 50


def admin_audit(request: HttpRequest, *, kind: AuditKind, target: str, details: dict[str, Any]) -> None:
    actor = actor_from_request(request)
    audit_record(kind=kind, actor=actor.label, user=actor.user, address=actor.address, target=target,
                 details=details)


class AuditedAdminMixin:
    """Every change made through this ModelAdmin is also a security audit event."""

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit_object(request, AuditKind.ADMIN_ADDITION, obj, message)
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit_object(request, AuditKind.ADMIN_CHANGE, obj, message)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request: HttpRequest, queryset: QuerySet) -> Any:
        for obj in queryset[:ACTION_TARGETS_KEPT]:
            self._audit_object(request, AuditKind.ADMIN_DELETION, obj, "")
        return super().log_deletions(request, queryset)  # type: ignore[misc]

    def _audit_object(self, request: HttpRequest, kind: AuditKind, obj: Model, message: Any) -> None:
        # The change message names the fields changed, never their values.
        admin_audit(request, kind=kind, target=f"{obj._meta.verbose_name} {obj}",
                    details={"model": obj._meta.label, "object_id": str(obj.pk), "change": message})

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        action = request.POST.get("action", "")
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        chosen = queryset if request.POST.get("select_across") == "1" else queryset.filter(pk__in=selected)
        # Named before the action runs: it may delete them.
        targets = [str(obj) for obj in chosen[:ACTION_TARGETS_KEPT]]
        response = super().response_action(request, queryset)  # type: ignore[misc]
        if action and targets:
            admin_audit(request, kind=AuditKind.ADMIN_ACTION, target=f"{action} on {len(targets)} "
                        f"{queryset.model._meta.verbose_name_plural}",
                        details={"model": queryset.model._meta.label, "action": action, "objects": targets})
        return response


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "kind", "actor", "address", "target", "lobby_id", "count", "correlation_id")
    list_filter = ("kind", "occurred_at")
    search_fields = ("actor", "address", "session_id", "lobby_id", "target", "correlation_id", "user__username")
    date_hierarchy = "occurred_at"
    readonly_fields = ("occurred_at", "kind", "user", "actor", "session_id", "address", "lobby_id", "target",
                       "correlation_id", "count", "pretty_details")
    exclude = ("details",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The log is pruned by age (manage.py prune_audit), never edited by hand.
        return False

    @admin.display(description="details")
    def pretty_details(self, event: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.details, indent=2, ensure_ascii=False))
