"""A roster's entries: what two sockets keep of the same peer is one set of strings."""
from __future__ import annotations

from signaling.roster import CONNECTED, RECONNECTING, peer_entry


def fresh(text: str) -> str:
    """``text`` as a new string object, as a database row or a decoded message gives it."""
    return "".join(list(text))


def test_two_sockets_entries_for_one_peer_share_its_strings() -> None:
    session, channel, epoch = "a" * 32, "specific..inmemory!AbCdEfGhIjKl", "e" * 32
    first_id, first = peer_entry(fresh(session), fresh(channel), fresh(CONNECTED), fresh(epoch))
    second_id, second = peer_entry(fresh(session), fresh(channel), fresh(RECONNECTING), fresh(epoch))
    assert first_id is second_id and first.channel is second.channel and first.epoch is second.epoch
    assert (first.status, second.status) == (CONNECTED, RECONNECTING)
    assert first.status is CONNECTED and second.status is RECONNECTING


def test_a_status_the_roster_does_not_know_is_kept_as_it_came() -> None:
    _, peer = peer_entry("s", "", "left", "1")
    assert (peer.channel, peer.status) == ("", "left")
