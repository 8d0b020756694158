"""Staff pages: groups, events, dashboard; refused to anyone else."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from errors import boundary
from errors.boundary import report_error
from errors.choices import GroupStatus
from errors.exceptions import InvalidMessageError, RateLimitedError
from errors.models import ErrorEvent, ErrorGroup
from errors.recorder import DatabaseRecorder
from errors.testing import stored_events_sync
from resilience.channel_layer import layer_dependency


@pytest.fixture
def stored(db: None) -> dict[str, Any]:
    _, first = report_error(InvalidMessageError(), transport="websocket", where="set_muted", lobby_id="LOBBY1",
                            session_id="SESSION1", context={"token": "secret-token-value", "frame": {"a": 1}})
    report_error(RateLimitedError(), transport="websocket", where="ping")
    stored_events_sync()
    return {"correlation_id": first.correlation_id, "group": ErrorGroup.objects.get(code="invalid_message")}


@pytest.fixture
def staff(client: Client, django_user_model: Any) -> Client:
    client.force_login(django_user_model.objects.create_superuser("admin", password="x"))
    return client


PAGES = [
    "/admin/errors/errorgroup/",
    "/admin/errors/errorevent/",
    "/admin/errors/errordashboard/",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_refused_to_visitors(client: Client, stored: dict[str, Any], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_refused_to_staff_without_permission(
    client: Client, stored: dict[str, Any], django_user_model: Any, path: str
) -> None:
    client.force_login(django_user_model.objects.create_user("clerk", password="x", is_staff=True))
    assert client.get(path).status_code == 403


def test_group_list_shows_filters_and_finds_by_correlation_id(staff: Client, stored: dict[str, Any]) -> None:
    page = staff.get("/admin/errors/errorgroup/").content.decode()
    assert "invalid_message in set_muted" in page and "rate_limited in ping" in page
    found = staff.get("/admin/errors/errorgroup/", {"q": stored["correlation_id"]}).content.decode()
    assert "invalid_message in set_muted" in found and "rate_limited in ping" not in found
    filtered = staff.get("/admin/errors/errorgroup/", {"status__exact": "resolved"}).content.decode()
    assert "invalid_message in set_muted" not in filtered


@pytest.mark.parametrize("action, status", [("resolve", GroupStatus.RESOLVED), ("ignore", GroupStatus.IGNORED)])
def test_actions_change_the_status(staff: Client, stored: dict[str, Any], action: str, status: str) -> None:
    group = stored["group"]
    response = staff.post("/admin/errors/errorgroup/", {"action": action, "_selected_action": [group.pk]})
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.status == status
    staff.post("/admin/errors/errorgroup/", {"action": "reopen", "_selected_action": [group.pk]})
    group.refresh_from_db()
    assert (group.status, group.resolved_at) == (GroupStatus.UNRESOLVED, None)


def test_action_messages_say_group_once_and_groups_past_one(staff: Client, stored: dict[str, Any]) -> None:
    one = staff.post("/admin/errors/errorgroup/", {"action": "resolve", "_selected_action": [stored["group"].pk]},
                     follow=True)
    every = list(ErrorGroup.objects.values_list("pk", flat=True))
    two = staff.post("/admin/errors/errorgroup/", {"action": "reopen", "_selected_action": every}, follow=True)

    assert [str(m) for m in one.context["messages"]] == ["Resolved 1 error group."]
    assert [str(m) for m in two.context["messages"]] == ["Reopened 2 error groups."]


def test_group_list_puts_the_triage_columns_first_and_cuts_long_titles(staff: Client, stored: dict[str, Any]) -> None:
    ErrorGroup.objects.filter(pk=stored["group"].pk).update(title="invalid_message in set_muted " + "x" * 200)

    response = staff.get("/admin/errors/errorgroup/")

    page = response.content.decode()
    headers = [h.split('"')[0].split()[0] for h in page.split('<th scope="col" class="sortable column-')[1:]]
    assert headers[:5] == ["short_title", "status", "regressed", "count", "last_seen_at"]
    assert "x" * 200 in page, "the whole title is in the tooltip"
    assert ">invalid_message in set_muted " + "x" * 40 + "…</span>" in page, "the cell shows 70 characters"
    assert "/static/errors/admin.css" in page


def test_an_id_given_out_beyond_the_sample_finds_its_weighted_event_and_group(
    staff: Client, stored: dict[str, Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A recorder that keeps one occurrence of a group whole a minute, and folds the rest.
    settings.VOICEBOT_ERROR_SAMPLE_RATE = "1/minute"
    recorder = DatabaseRecorder()
    monkeypatch.setattr(boundary, "get_recorder", lambda: recorder)
    ids = [report_error(InvalidMessageError(), transport="websocket", where="chat")[1].correlation_id
           for _ in range(4)]
    assert recorder.flush()
    weighted = ErrorEvent.objects.get(weight=3)

    found = staff.get("/admin/errors/errorevent/", {"q": ids[1]}).content.decode()
    assert f"/admin/errors/errorevent/{weighted.pk}/change/" in found and "1 result" in found
    groups = staff.get("/admin/errors/errorgroup/", {"q": ids[2].upper()}).content.decode()
    assert "invalid_message in chat" in groups and "invalid_message in set_muted" not in groups
    # An id that no event stands for finds nothing.
    assert "0 results" in staff.get("/admin/errors/errorevent/", {"q": "f" * 32}).content.decode()


def test_group_page_shows_its_latest_events_inline(staff: Client, stored: dict[str, Any]) -> None:
    page = staff.get(f"/admin/errors/errorgroup/{stored['group'].pk}/change/").content.decode()
    assert stored["correlation_id"] in page
    assert "latest events" in page.lower()


def test_event_page_is_read_only_pretty_and_linked_without_secrets(staff: Client, stored: dict[str, Any]) -> None:
    [event] = stored_events_sync(correlation_id=stored["correlation_id"])
    page = staff.get(f"/admin/errors/errorevent/{event.pk}/change/").content.decode()
    assert "secret-token-value" not in page
    assert "&quot;token&quot;: &quot;[scrubbed]&quot;" in page  # pretty-printed JSON
    assert f"/admin/errors/errorgroup/{event.group_id}/change/" in page
    assert "/admin/lobbies/lobby/LOBBY1/change/" in page
    assert "/admin/lobbies/guestsession/SESSION1/change/" in page
    assert 'name="_save"' not in page
    found = staff.get("/admin/errors/errorevent/", {"q": stored["correlation_id"]}).content.decode()
    assert "1 result" in found or stored["correlation_id"] in found


def test_dashboard_draws_the_chart_top_groups_and_breakers(staff: Client, stored: dict[str, Any]) -> None:
    layer_dependency()
    page = staff.get("/admin/errors/errordashboard/").content.decode()
    assert '<svg id="errors-per-hour"' in page
    assert page.count('class="bar"') == 2  # validation and websocket, this hour
    assert "invalid_message in set_muted" in page
    assert '<td class="breaker-state">closed</td>' in page
    assert "http://" not in page.split('<svg', 1)[1].split("</svg>")[0].replace("http://www.w3.org/2000/svg", "")
    index = staff.get("/admin/").content.decode()
    assert "/admin/errors/errordashboard/" in index


def test_dashboard_is_open_to_staff_with_view_permission(
    client: Client, stored: dict[str, Any], django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_errorgroup"))
    client.force_login(user)
    assert client.get("/admin/errors/errordashboard/").status_code == 200
