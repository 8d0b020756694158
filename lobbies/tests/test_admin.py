"""Staff pages: lobbies and participants, and the actions that reach live sockets."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from errors.testing import stored_events
from lobbies.models import Lobby, Participant

NewSession = Callable[..., tuple[str, str]]
NewLobby = Callable[..., str]
Join = Callable[..., Participant]

LOBBY_CHANGELIST = "/admin/lobbies/lobby/"
PARTICIPANT_CHANGELIST = "/admin/lobbies/participant/"


def logged_in(*, staff: bool) -> Client:
    user = get_user_model().objects.create_user(
        username="staff" if staff else "visitor", password=None, is_staff=staff, is_superuser=staff
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(db: None) -> Client:
    return logged_in(staff=True)


def action(client: Client, changelist: str, name: str, ids: list[Any]) -> Any:
    return client.post(changelist, {"action": name, "_selected_action": [str(i) for i in ids]}, follow=True)


# --- Pages ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_lobby_list_shows_every_lobby_with_its_participant_count(
    staff_client: Client, new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    open_id = new_lobby(name="Morning standup")
    closed_id = new_lobby(name="Old retro")
    Lobby.objects.filter(pk=closed_id).update(closed_at=timezone.now())
    join(open_id, new_session()[0], "Ann")
    join(open_id, new_session()[0], "Bob")

    response = staff_client.get(LOBBY_CHANGELIST)

    assert response.status_code == 200
    listed = {lobby.pk: lobby for lobby in response.context["cl"].result_list}
    assert set(listed) == {open_id, closed_id}
    assert listed[open_id].participant_total == 2 and listed[closed_id].participant_total == 0
    assert b"Morning standup" in response.content and b"Old retro" in response.content


@pytest.mark.django_db
def test_lobby_list_search_matches_name_and_id(staff_client: Client, new_lobby: NewLobby) -> None:
    standup = new_lobby(name="Morning standup")
    retro = new_lobby(name="Retro")

    by_name = staff_client.get(LOBBY_CHANGELIST, {"q": "standup"})
    by_id = staff_client.get(LOBBY_CHANGELIST, {"q": retro})

    assert [lobby.pk for lobby in by_name.context["cl"].result_list] == [standup]
    assert [lobby.pk for lobby in by_id.context["cl"].result_list] == [retro]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [({"state": "open"}, {"public", "private"}), ({"state": "closed"}, {"closed"}),
     ({"private__exact": "1"}, {"private"}), ({"private__exact": "0"}, {"public", "closed"})],
    ids=["open", "closed", "private", "public"],
)
def test_lobby_list_filters(
    staff_client: Client, new_lobby: NewLobby, query: dict[str, str], expected: set[str]
) -> None:
    ids = {"public": new_lobby(name="public"), "private": new_lobby(name="private", private=True),
           "closed": new_lobby(name="closed")}
    Lobby.objects.filter(pk=ids["closed"]).update(closed_at=timezone.now())

    response = staff_client.get(LOBBY_CHANGELIST, query)

    assert response.status_code == 200
    assert {lobby.name for lobby in response.context["cl"].result_list} == expected


@pytest.mark.django_db
def test_lobby_change_page_shows_participants_inline_and_no_secrets(
    staff_client: Client, new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby(name="Locked room", password="hunter2")
    ann_id, ann_token = new_session()
    join(lobby_id, ann_id, "Ann Example", password="hunter2", channel_name="specific.channel!secret")
    join(lobby_id, new_session()[0], "Bob Example", password="hunter2")

    response = staff_client.get(f"{LOBBY_CHANGELIST}{lobby_id}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Ann Example" in page and "Bob Example" in page
    [inline] = response.context["inline_admin_formsets"]
    assert inline.formset.model is Participant
    assert [form.instance.name for form in inline.formset.forms] == ["Ann Example", "Bob Example"]
    password_hash = Lobby.objects.get(pk=lobby_id).password_hash
    for secret in ("hunter2", password_hash, ann_token, "specific.channel!secret"):
        assert secret not in page


@pytest.mark.django_db
def test_participant_change_page_hides_the_socket_channel(
    staff_client: Client, new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    ann = join(new_lobby(), new_session()[0], "Ann", channel_name="specific.channel!secret")

    response = staff_client.get(f"{PARTICIPANT_CHANGELIST}{ann.pk}/change/")

    assert response.status_code == 200
    assert b"Ann" in response.content and b"specific.channel!secret" not in response.content


@pytest.mark.django_db
def test_participants_cannot_be_deleted_around_the_remove_action(
    staff_client: Client, new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    ann = join(new_lobby(), new_session()[0], "Ann")

    response = staff_client.post(f"{PARTICIPANT_CHANGELIST}{ann.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Participant.objects.filter(pk=ann.pk).exists()


# --- Who may enter ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "not-staff"])
@pytest.mark.parametrize("path", [LOBBY_CHANGELIST, PARTICIPANT_CHANGELIST, "/admin/"])
def test_admin_pages_refuse_anyone_but_staff(new_lobby: NewLobby, who: str, path: str) -> None:
    new_lobby(name="Morning standup")
    client = Client() if who == "anonymous" else logged_in(staff=False)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "not-staff"])
def test_close_action_refuses_anyone_but_staff(
    new_lobby: NewLobby, new_session: NewSession, join: Join, who: str
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    client = Client() if who == "anonymous" else logged_in(staff=False)

    closing = client.post(LOBBY_CHANGELIST, {"action": "close_lobbies", "_selected_action": [lobby_id]})
    kicking = client.post(PARTICIPANT_CHANGELIST, {"action": "remove_participants", "_selected_action": [ann.pk]})

    assert closing.status_code == 302 and closing["Location"].startswith("/admin/login/")
    assert kicking.status_code == 302 and kicking["Location"].startswith("/admin/login/")
    assert Lobby.objects.get(pk=lobby_id).closed_at is None
    assert Participant.objects.filter(pk=ann.pk).exists()


# --- Actions on the stored state --------------------------------------------------------------


@pytest.mark.django_db
def test_close_action_closes_the_selected_lobbies_only(
    staff_client: Client, new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    doomed, kept = new_lobby(), new_lobby()
    join(doomed, new_session()[0], "Ann")
    join(kept, new_session()[0], "Bob")

    response = action(staff_client, LOBBY_CHANGELIST, "close_lobbies", [doomed])

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["Closed 1 lobby."]
    assert Lobby.objects.get(pk=doomed).closed_at is not None
    assert Lobby.objects.get(pk=kept).closed_at is None
    assert list(Participant.objects.values_list("name", flat=True)) == ["Bob"]


@pytest.mark.django_db
def test_remove_action_removes_the_selected_participants_only(
    staff_client: Client, new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    join(lobby_id, new_session()[0], "Bob")

    response = action(staff_client, PARTICIPANT_CHANGELIST, "remove_participants", [ann.pk])

    assert [str(m) for m in response.context["messages"]] == ["Removed 1 participant."]
    assert list(Participant.objects.values_list("name", flat=True)) == ["Bob"]


@pytest.mark.django_db
def test_action_messages_count_in_the_plural_past_one(
    staff_client: Client, new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    both = [join(lobby_id, new_session()[0], name).pk for name in ("Ann", "Bob")]

    removed = action(staff_client, PARTICIPANT_CHANGELIST, "remove_participants", both)
    closed = action(staff_client, LOBBY_CHANGELIST, "close_lobbies", [lobby_id, new_lobby()])

    assert [str(m) for m in removed.context["messages"]] == ["Removed 2 participants."]
    assert [str(m) for m in closed.context["messages"]] == ["Closed 2 lobbies."]


# --- Actions reaching live sockets ---------------------------------------------------------------


async def staff_action(changelist: str, name: str, ids: list[Any]) -> Any:
    def run() -> Any:
        return action(logged_in(staff=True), changelist, name, ids)

    return await database_sync_to_async(run)()


async def test_closing_a_lobby_disconnects_its_sockets_with_4004(
    joined_pair: tuple[str, Any, Any]
) -> None:
    from lobbies.tests.conftest import Api

    lobby_id, a, b = joined_pair

    response = await staff_action(LOBBY_CHANGELIST, "close_lobbies", [lobby_id])

    assert response.status_code == 200
    for client in (a, b):
        error = await client.receive_type("error")
        assert error["code"] == "lobby_not_found" and error["in_reply_to"] is None
        assert error["category"] == "lobby"
        await client.expect_closed(4004)
        [event] = await stored_events(correlation_id=error["correlation_id"])
        assert (event.group.code, event.transport, event.lobby_id) == ("lobby_not_found", "websocket", lobby_id)
        assert event.session_id == client.session_id
    listed = await database_sync_to_async(lambda: Api().get("/api/lobbies").json())()
    assert lobby_id not in [lobby["id"] for lobby in listed["lobbies"]]
    stored = await database_sync_to_async(Lobby.objects.get)(pk=lobby_id)
    assert stored.closed_at is not None
    assert await database_sync_to_async(Participant.objects.filter(lobby_id=lobby_id).count)() == 0


async def test_removing_a_participant_closes_its_socket_with_4003_and_tells_the_others(
    joined_pair: tuple[str, Any, Any]
) -> None:
    lobby_id, a, b = joined_pair
    participant = await database_sync_to_async(Participant.objects.get)(session_id=a.session_id)

    response = await staff_action(PARTICIPANT_CHANGELIST, "remove_participants", [participant.pk])

    assert response.status_code == 200
    error = await a.receive_type("error")
    assert error["code"] == "kicked" and error["category"] == "lobby" and error["in_reply_to"] is None
    await a.expect_closed(4003)
    [event] = await stored_events(correlation_id=error["correlation_id"])
    assert (event.group.code, event.transport, event.lobby_id, event.session_id) == (
        "kicked", "websocket", lobby_id, a.session_id
    )
    assert await b.receive_type("remove_peer") == {"type": "remove_peer", "peer_id": a.session_id}
    assert await b.receive_type("participant_left") == {
        "type": "participant_left", "session_id": a.session_id, "reason": "kicked"
    }
    await b.nothing_more()
    remaining = await database_sync_to_async(
        lambda: list(Participant.objects.filter(lobby_id=lobby_id).values_list("session_id", flat=True))
    )()
    assert remaining == [b.session_id]
