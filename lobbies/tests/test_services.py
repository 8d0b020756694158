"""The lobby rules, at the services that enforce them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from errors.exceptions import InvalidMessageError, NotJoinedError, UnauthenticatedError
from lobbies import moderation, services
from lobbies.events import Event
from lobbies.exceptions import (
    InvalidLobbyPasswordError,
    InvalidNameError,
    LobbyFullError,
    LobbyNotFoundError,
    NameTakenError,
)
from lobbies.models import CHAT_HISTORY_LENGTH, ChatMessage, GuestSession, Lobby, Participant

pytestmark = pytest.mark.django_db

NewSession = Callable[..., tuple[str, str]]
NewLobby = Callable[..., str]
Join = Callable[..., Participant]


def messages(emitted: list[Event]) -> list[tuple[str, dict[str, Any]]]:
    """(group or channel, message without its type-specific noise) of each event."""
    return [(event.group or event.channel or "", event.message) for event in emitted]


def join_result(lobby_id: str, session_id: str, name: Any = "Ann", **fields: Any) -> services.JoinResult:
    fields.setdefault("password", None)
    fields.setdefault("channel_name", f"chan.{session_id}")
    fields.setdefault("instance_id", "instance-a")
    return services.lobby_join(lobby_id=lobby_id, session_id=session_id, name=name, **fields)


# --- Sessions and lobbies ----------------------------------------------------


def test_session_create_stores_the_trimmed_default_name() -> None:
    session, token = services.session_create(name=" Ann ")

    assert GuestSession.objects.get(pk=session.id).name == "Ann"
    assert token.startswith(session.id + ":")


def test_session_create_with_a_bad_name_stores_nothing() -> None:
    with pytest.raises(InvalidNameError):
        services.session_create(name="\x00")

    assert GuestSession.objects.count() == 0


def test_lobby_create_for_a_session_that_is_gone_is_unauthenticated() -> None:
    with pytest.raises(UnauthenticatedError):
        services.lobby_create(session_id="f" * 32, name="Room")

    assert Lobby.objects.count() == 0


# --- Joining: names ------------------------------------------------------------


def test_join_stores_a_connected_participant_and_announces_it(
    new_lobby: NewLobby, new_session: NewSession
) -> None:
    lobby_id = new_lobby()
    session_id, _ = new_session()

    result = join_result(lobby_id, session_id, "  Ann  ", channel_name="chan.1")

    participant = Participant.objects.get(session_id=session_id)
    assert (participant.lobby_id, participant.name, participant.status) == (lobby_id, "Ann", "connected")
    assert (participant.channel_name, participant.instance_id) == ("chan.1", "instance-a")
    assert result.resumed is False and result.others == [] and result.participant_count == 1
    [(group, message)] = messages(result.events)
    assert group == f"lobby.{lobby_id}"
    assert message == {
        "type": "lobby.participant_joined",
        "lobby_id": lobby_id,
        "participant": {"session_id": session_id, "name": "Ann", "is_bot": False, "muted": False,
                        "status": "connected"},
        "channel": "chan.1",
        "epoch": participant.epoch,
    }


def test_join_lists_the_others_in_join_order(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann, bob, cid = (new_session()[0] for _ in range(3))
    join(lobby_id, ann, "Ann")
    join(lobby_id, bob, "Bob")

    result = join_result(lobby_id, cid, "Cid")

    assert [p.session_id for p in result.others] == [ann, bob]
    assert result.participant_count == 3


def test_a_bot_session_joins_as_a_bot(new_lobby: NewLobby) -> None:
    session, _ = services.session_create(name="Helper", is_bot=True)

    result = join_result(new_lobby(), session.id, "Helper")

    assert result.participant.is_bot is True


def test_join_without_a_name_uses_the_sessions_default_name(new_lobby: NewLobby) -> None:
    session, _ = services.session_create(name="Ann")

    assert join_result(new_lobby(), session.id, None).participant.name == "Ann"


def test_a_name_in_join_overrides_the_sessions_default_name(new_lobby: NewLobby) -> None:
    session, _ = services.session_create(name="Ann")

    assert join_result(new_lobby(), session.id, "Annie").participant.name == "Annie"
    assert GuestSession.objects.get(pk=session.id).name == "Ann"


def test_join_without_a_name_or_a_default_name_is_invalid_name(new_lobby: NewLobby, new_session: NewSession) -> None:
    with pytest.raises(InvalidNameError):
        join_result(new_lobby(), new_session()[0], None)

    assert Participant.objects.count() == 0


def test_join_for_a_session_that_is_gone_is_unauthenticated(new_lobby: NewLobby, new_session: NewSession) -> None:
    session_id, _ = new_session()
    GuestSession.objects.filter(pk=session_id).delete()

    with pytest.raises(UnauthenticatedError):
        join_result(new_lobby(), session_id, "Ann")

    assert Participant.objects.count() == 0


@pytest.mark.parametrize("name", ["", "x" * 33, "A\u200bnn", None, 5])
def test_join_with_an_invalid_name_stores_nothing(new_lobby: NewLobby, new_session: NewSession, name: Any) -> None:
    with pytest.raises(InvalidNameError):
        join_result(new_lobby(), new_session()[0], name)

    assert Participant.objects.count() == 0


@pytest.mark.parametrize(
    ("taken", "wanted"),
    [("Ann", "Ann"), ("Ann", "ANN"), ("Ann", "  aNN "), ("straße", "STRASSE"), ("Σίσυφος", "ΣΊΣΥΦΟΣ"), ("Ann", "Ａｎｎ")],
    ids=["same", "upper", "trimmed-mixed", "sharp-s", "greek", "full-width"],
)
def test_join_with_a_name_taken_ignoring_case_is_refused(
    new_lobby: NewLobby, new_session: NewSession, join: Join, taken: str, wanted: str
) -> None:
    lobby_id = new_lobby()
    first = join(lobby_id, new_session()[0], taken)
    second_session, _ = new_session()

    with pytest.raises(NameTakenError):
        join_result(lobby_id, second_session, wanted)

    assert list(Participant.objects.values_list("pk", flat=True)) == [first.pk]


def test_the_same_name_may_be_used_in_two_lobbies(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    join(new_lobby(), new_session()[0], "Ann")

    assert join_result(new_lobby(), new_session()[0], "ann").participant.name == "ann"


def test_a_reconnecting_participant_keeps_its_name(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name=ann.channel_name)

    with pytest.raises(NameTakenError):
        join_result(lobby_id, new_session()[0], "ann")


def test_rename_announces_the_new_name(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")

    emitted = services.participant_rename(session_id=ann.session_id, lobby_id=lobby_id, name=" Annie ")

    stored = Participant.objects.get(pk=ann.pk)
    assert stored.name == "Annie" and stored.name_key == "annie"
    [(group, message)] = messages(emitted)
    assert group == f"lobby.{lobby_id}"
    assert message["type"] == "lobby.participant_updated" and message["participant"]["name"] == "Annie"


def test_rename_to_a_case_variant_of_ones_own_name_is_allowed(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "ann")

    services.participant_rename(session_id=ann.session_id, lobby_id=lobby_id, name="ANN")

    assert Participant.objects.get(pk=ann.pk).name == "ANN"


@pytest.mark.parametrize("wanted", ["Bob", "bob", "BOB"])
def test_rename_to_a_name_taken_in_the_lobby_is_refused(
    new_lobby: NewLobby, new_session: NewSession, join: Join, wanted: str
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    join(lobby_id, new_session()[0], "Bob")

    with pytest.raises(NameTakenError):
        services.participant_rename(session_id=ann.session_id, lobby_id=lobby_id, name=wanted)

    assert Participant.objects.get(pk=ann.pk).name == "Ann"


def test_rename_with_an_invalid_name_changes_nothing(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")

    with pytest.raises(InvalidNameError):
        services.participant_rename(session_id=ann.session_id, lobby_id=lobby_id, name="Ann\x1b[31m")

    assert Participant.objects.get(pk=ann.pk).name == "Ann"


def test_rename_before_joining_is_not_joined(new_lobby: NewLobby, new_session: NewSession) -> None:
    with pytest.raises(NotJoinedError):
        services.participant_rename(session_id=new_session()[0], lobby_id=new_lobby(), name="Ann")


# --- Joining: seats, passwords, lobbies ---------------------------------------------


def test_a_full_lobby_refuses_a_newcomer(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby(max_participants=2)
    join(lobby_id, new_session()[0], "Ann")
    join(lobby_id, new_session()[0], "Bob")

    with pytest.raises(LobbyFullError) as caught:
        join_result(lobby_id, new_session()[0], "Cid")

    assert caught.value.recovery == "retry" and caught.value.retry_after == 30.0
    assert Participant.objects.filter(lobby_id=lobby_id).count() == 2


def test_a_reconnecting_participant_still_holds_its_seat(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby(max_participants=2)
    join(lobby_id, new_session()[0], "Ann")
    bob = join(lobby_id, new_session()[0], "Bob")
    services.participant_disconnect(session_id=bob.session_id, lobby_id=lobby_id, channel_name=bob.channel_name)

    with pytest.raises(LobbyFullError):
        join_result(lobby_id, new_session()[0], "Cid")

    assert Participant.objects.get(pk=bob.pk).status == "reconnecting"


def test_resume_into_a_full_lobby_is_allowed(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby(max_participants=2)
    join(lobby_id, new_session()[0], "Ann")
    bob = join(lobby_id, new_session()[0], "Bob")
    services.participant_disconnect(session_id=bob.session_id, lobby_id=lobby_id, channel_name=bob.channel_name)

    assert join_result(lobby_id, bob.session_id, "Bob").resumed is True


def test_a_seat_frees_when_its_participant_leaves(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby(max_participants=2)
    join(lobby_id, new_session()[0], "Ann")
    bob = join(lobby_id, new_session()[0], "Bob")
    services.participant_leave(session_id=bob.session_id, lobby_id=lobby_id, channel_name=bob.channel_name)

    assert join_result(lobby_id, new_session()[0], "Cid").participant.name == "Cid"


@pytest.mark.parametrize("password", [None, "", "Hunter2", "hunter2 "], ids=["none", "empty", "case", "space"])
def test_a_wrong_password_is_refused(new_lobby: NewLobby, new_session: NewSession, password: str | None) -> None:
    lobby_id = new_lobby(password="hunter2")

    with pytest.raises(InvalidLobbyPasswordError) as caught:
        join_result(lobby_id, new_session()[0], "Ann", password=password)

    assert caught.value.http_status == 403
    assert Participant.objects.count() == 0


def test_the_right_password_lets_one_in(new_lobby: NewLobby, new_session: NewSession) -> None:
    lobby_id = new_lobby(password="hunter2")

    assert join_result(lobby_id, new_session()[0], "Ann", password="hunter2").participant.name == "Ann"


@pytest.mark.parametrize("password", [1234, ["hunter2"], True])
def test_a_password_that_is_not_a_string_is_invalid_message(
    new_lobby: NewLobby, new_session: NewSession, password: Any
) -> None:
    with pytest.raises(InvalidMessageError):
        join_result(new_lobby(password="hunter2"), new_session()[0], "Ann", password=password)

    assert Participant.objects.count() == 0


def test_a_password_is_ignored_by_a_lobby_without_one(new_lobby: NewLobby, new_session: NewSession) -> None:
    assert join_result(new_lobby(), new_session()[0], "Ann", password="anything").participant.name == "Ann"


def test_joining_an_unknown_lobby_is_lobby_not_found(new_session: NewSession) -> None:
    with pytest.raises(LobbyNotFoundError):
        join_result("nosuchlobby", new_session()[0], "Ann")


def test_joining_a_closed_lobby_is_lobby_not_found(new_lobby: NewLobby, new_session: NewSession) -> None:
    lobby_id = new_lobby()
    moderation.lobby_close(lobby_id=lobby_id)

    with pytest.raises(LobbyNotFoundError):
        join_result(lobby_id, new_session()[0], "Ann")

    assert Participant.objects.count() == 0


def test_joining_another_lobby_leaves_the_first(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    first, second = new_lobby(), new_lobby()
    session_id, _ = new_session()
    old = join(first, session_id, "Ann", channel_name="chan.old")
    join(first, new_session()[0], "Bob")

    result = join_result(second, session_id, "Annie", channel_name="chan.new")

    assert result.resumed is False
    assert Participant.objects.get(session_id=session_id).lobby_id == second
    assert list(Participant.objects.filter(lobby_id=first).values_list("name", flat=True)) == ["Bob"]
    left, joined = result.events
    assert left.group == f"lobby.{first}" and left.discard == ("chan.old",)
    assert left.message == {"type": "lobby.participant_left", "lobby_id": first, "session_id": session_id,
                            "reason": "left", "epoch": old.epoch}
    assert joined.group == f"lobby.{second}" and joined.message["type"] == "lobby.participant_joined"
    assert old.pk != result.participant.pk


@pytest.mark.parametrize("obstacle", ["full", "password", "name_taken", "invalid_name"])
def test_a_failed_join_elsewhere_keeps_the_place_in_the_first_lobby(
    new_lobby: NewLobby, new_session: NewSession, join: Join, obstacle: str
) -> None:
    first = new_lobby()
    second = new_lobby(max_participants=2, password="pw")
    session_id, _ = new_session()
    original = join(first, session_id, "Ann")
    join(second, new_session()[0], "Bob", password="pw")
    if obstacle == "full":
        join(second, new_session()[0], "Cid", password="pw")
    attempt = {
        "full": {"name": "Ann", "password": "pw"},
        "password": {"name": "Ann", "password": "wrong"},
        "name_taken": {"name": "BOB", "password": "pw"},
        "invalid_name": {"name": "", "password": "pw"},
    }[obstacle]

    with pytest.raises((LobbyFullError, InvalidLobbyPasswordError, NameTakenError, InvalidNameError)):
        join_result(second, session_id, **attempt)

    stored = Participant.objects.get(session_id=session_id)
    assert (stored.pk, stored.lobby_id, stored.name, stored.status) == (original.pk, first, "Ann", "connected")


# --- Resume ----------------------------------------------------------------------


def test_resume_keeps_the_name_and_needs_no_password(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby(password="pw")
    ann = join(lobby_id, new_session()[0], "Ann", password="pw", channel_name="chan.1")
    services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.1")

    result = join_result(lobby_id, ann.session_id, "Someone else", password=None, channel_name="chan.2",
                         instance_id="instance-b")

    assert result.resumed is True
    stored = Participant.objects.get(session_id=ann.session_id)
    assert stored.pk == ann.pk and stored.name == "Ann" and stored.status == "connected"
    assert (stored.channel_name, stored.instance_id, stored.disconnected_at) == ("chan.2", "instance-b", None)
    assert stored.epoch != ann.epoch
    [(group, message)] = messages(result.events)
    assert group == f"lobby.{lobby_id}"
    assert message["type"] == "lobby.participant_resumed"
    assert message["channel"] == "chan.2" and message["epoch"] == stored.epoch
    assert message["participant"]["status"] == "connected"


def test_resume_while_the_old_socket_still_holds_the_place(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.old")

    result = join_result(lobby_id, ann.session_id, None, channel_name="chan.new")

    assert result.resumed is True
    assert Participant.objects.get(pk=ann.pk).channel_name == "chan.new"
    # The old socket's drop no longer touches the place.
    assert services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id,
                                           channel_name="chan.old") == []
    assert Participant.objects.get(pk=ann.pk).status == "connected"


# --- Leaving, dropping ----------------------------------------------------------


def test_leave_removes_the_participant_with_reason_left(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")

    emitted = services.participant_leave(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.1")

    assert not Participant.objects.filter(pk=ann.pk).exists()
    [event] = emitted
    assert event.discard == ("chan.1",)
    assert event.message == {"type": "lobby.participant_left", "lobby_id": lobby_id,
                             "session_id": ann.session_id, "reason": "left", "epoch": ann.epoch}


def test_leave_from_a_socket_that_does_not_hold_the_place_is_not_joined(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")

    with pytest.raises(NotJoinedError):
        services.participant_leave(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.other")

    assert Participant.objects.filter(pk=ann.pk).exists()


def test_disconnect_marks_the_participant_reconnecting(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")
    before = timezone.now()

    emitted = services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id, channel_name="chan.1")

    stored = Participant.objects.get(pk=ann.pk)
    assert (stored.status, stored.channel_name, stored.instance_id) == ("reconnecting", "", "")
    assert before <= stored.disconnected_at <= timezone.now()
    assert stored.name == "Ann"
    [event] = emitted
    assert event.group == f"lobby.{lobby_id}" and event.discard == ("chan.1",)
    assert event.message["type"] == "lobby.participant_updated"
    assert event.message["participant"]["status"] == "reconnecting"


def test_disconnect_of_a_socket_that_does_not_hold_the_place_changes_nothing(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")

    assert services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id,
                                           channel_name="chan.2") == []

    stored = Participant.objects.get(pk=ann.pk)
    assert (stored.status, stored.channel_name, stored.disconnected_at) == ("connected", "chan.1", None)


def test_disconnect_with_no_grace_period_removes_at_once(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann", channel_name="chan.1")

    with override_settings(VOICEBOT_RECONNECT_GRACE=0):
        emitted = services.participant_disconnect(session_id=ann.session_id, lobby_id=lobby_id,
                                                  channel_name="chan.1")

    assert not Participant.objects.filter(pk=ann.pk).exists()
    [event] = emitted
    assert event.message["type"] == "lobby.participant_left" and event.message["reason"] == "disconnected"


def test_set_muted_is_stored_and_announced(new_lobby: NewLobby, new_session: NewSession, join: Join) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")

    [event] = services.participant_set_muted(session_id=ann.session_id, lobby_id=lobby_id, muted=True)

    assert Participant.objects.get(pk=ann.pk).muted is True
    assert event.message["participant"]["muted"] is True


def test_set_muted_before_joining_is_not_joined(new_lobby: NewLobby, new_session: NewSession) -> None:
    with pytest.raises(NotJoinedError):
        services.participant_set_muted(session_id=new_session()[0], lobby_id=new_lobby(), muted=True)


# --- Chat ---------------------------------------------------------------------------


def test_chat_is_stored_and_announced_with_the_senders_name(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")

    [event] = services.chat_post(session_id=ann.session_id, lobby_id=lobby_id, text=" hello ")

    stored = ChatMessage.objects.get()
    assert (stored.lobby_id, stored.session_id, stored.name, stored.text) == (lobby_id, ann.session_id, "Ann",
                                                                              " hello ")
    assert event.group == f"lobby.{lobby_id}"
    assert event.message == {"type": "lobby.chat", "lobby_id": lobby_id, "chat": {
        "id": str(stored.pk), "session_id": ann.session_id, "name": "Ann", "text": " hello ",
        "ts": stored.created_at.isoformat()},
        "sender_channel": "", "frame_id": None}


def test_chat_sent_again_with_the_same_id_is_announced_again_but_stored_once(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    bob = join(lobby_id, new_session()[0], "Bob")

    [first] = services.chat_post(session_id=ann.session_id, lobby_id=lobby_id, text="hi", frame_id="c-1")
    [again] = services.chat_post(session_id=ann.session_id, lobby_id=lobby_id, text="hi", frame_id="c-1")
    # Another sender's id is their own; an id with a lone surrogate is a key like any other.
    services.chat_post(session_id=bob.session_id, lobby_id=lobby_id, text="hi", frame_id="c-1")
    services.chat_post(session_id=bob.session_id, lobby_id=lobby_id, text="hi", frame_id="\ud800" * 500)

    assert first.message == again.message
    assert ChatMessage.objects.count() == 3
    assert {len(key) for key in ChatMessage.objects.values_list("client_key", flat=True)} == {64}


def test_chat_keeps_the_newest_50_messages_of_each_lobby(
    new_lobby: NewLobby, new_session: NewSession, join: Join
) -> None:
    lobby_id, other_lobby = new_lobby(), new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")
    bob = join(other_lobby, new_session()[0], "Bob")
    services.chat_post(session_id=bob.session_id, lobby_id=other_lobby, text="elsewhere")

    for n in range(CHAT_HISTORY_LENGTH + 5):
        services.chat_post(session_id=ann.session_id, lobby_id=lobby_id, text=f"message {n}")

    kept = list(ChatMessage.objects.filter(lobby_id=lobby_id).order_by("id").values_list("text", flat=True))
    assert kept == [f"message {n}" for n in range(5, CHAT_HISTORY_LENGTH + 5)]
    assert ChatMessage.objects.filter(lobby_id=other_lobby).count() == 1
    history = join_result(lobby_id, new_session()[0], "Cid").chat_history
    assert [m.text for m in history] == kept


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001, None, 7])
def test_bad_chat_text_stores_nothing(new_lobby: NewLobby, new_session: NewSession, join: Join, text: Any) -> None:
    lobby_id = new_lobby()
    ann = join(lobby_id, new_session()[0], "Ann")

    with pytest.raises(InvalidMessageError):
        services.chat_post(session_id=ann.session_id, lobby_id=lobby_id, text=text)

    assert ChatMessage.objects.count() == 0


def test_chat_before_joining_is_not_joined(new_lobby: NewLobby, new_session: NewSession) -> None:
    lobby_id = new_lobby()

    with pytest.raises(NotJoinedError):
        services.chat_post(session_id=new_session()[0], lobby_id=lobby_id, text="hi")

    assert ChatMessage.objects.count() == 0
