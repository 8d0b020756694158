"""Staff pages: the audit log itself, and the mixin that audits what other admins do."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from audit.choices import AuditKind
from audit.services import audit_record
from audit.testing import audit_events_sync
from lobbies.models import Lobby, Participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_user(username="mod", password=None, is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR="192.0.2.7")
    client.force_login(user)
    return client


def test_the_log_lists_searches_and_shows_events_and_cannot_be_edited(staff: Client) -> None:
    correlation_id = audit_record(kind=AuditKind.TOKEN_REJECTED, address="203.0.113.5", details={"refused_because": "forged"})
    [event] = audit_events_sync(kind="token_rejected")

    listing = staff.get("/admin/audit/auditevent/", {"q": "203.0.113.5"})
    assert listing.status_code == 200 and correlation_id in listing.content.decode()
    detail = staff.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert detail.status_code == 200 and "forged" in detail.content.decode()
    assert staff.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert staff.get("/admin/audit/auditevent/add/").status_code == 403


@pytest.mark.django_db(transaction=True)  # the kick's audit is recorded once it commits
def test_an_admin_kick_is_audited_with_who_from_where_and_what(staff: Client, new_lobby, new_session) -> None:
    from lobbies.services import lobby_join

    lobby_id = new_lobby()
    ann = lobby_join(lobby_id=lobby_id, session_id=new_session()[0], name="Ann", password=None,
                     channel_name="test.channel!ann", instance_id="i").participant

    staff.post("/admin/lobbies/participant/", {"action": "remove_participants", "_selected_action": [str(ann.pk)]})

    [action] = audit_events_sync(kind="admin_action")
    assert (action.actor, action.user.username, action.address) == ("staff mod", "mod", "192.0.2.7")
    assert action.details["action"] == "remove_participants" and action.details["objects"] == [str(ann)]
    [kick] = audit_events_sync(kind="participant_kicked")
    assert kick.actor == "staff mod" and kick.lobby_id == lobby_id and not Participant.objects.exists()


def test_an_admin_edit_and_a_resolve_are_audited(staff: Client, new_lobby) -> None:
    from errors.models import ErrorGroup
    from django.utils import timezone

    lobby_id = new_lobby(name="Before")
    staff.post(f"/admin/lobbies/lobby/{lobby_id}/change/", {
        "name": "After", "max_participants": 8, "participants-TOTAL_FORMS": "0", "participants-INITIAL_FORMS": "0"})
    assert Lobby.objects.get(pk=lobby_id).name == "After"
    group = ErrorGroup.objects.create(fingerprint="f" * 64, code="internal_error", category="system", severity="high",
                                      title="t", where="w", transport="http", first_seen=timezone.now(),
                                      last_seen=timezone.now())
    staff.post("/admin/errors/errorgroup/", {"action": "resolve", "_selected_action": [str(group.pk)]})

    [change] = audit_events_sync(kind="admin_change")
    assert change.details["model"] == "lobbies.Lobby" and change.details["object_id"] == lobby_id
    assert "After" in change.target
    [resolve] = audit_events_sync(kind="admin_action")
    assert resolve.details["action"] == "resolve" and resolve.details["model"] == "errors.ErrorGroup"
