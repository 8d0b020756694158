"""Errors of lobbies, participants and their names."""
from typing import Any

from errors.choices import Recovery
from errors.exceptions import LobbyError, ValidationError


class LobbyNotFoundError(LobbyError):
    code = "lobby_not_found"
    message = "That lobby does not exist or has been closed."
    http_status = 404
    close_code = 4004


class LobbyFullError(LobbyError):
    code = "lobby_full"
    message = "This lobby is full."
    recovery = Recovery.RETRY
    retry_after = 30.0

    def __init__(self, message: str | None = None, *, position: int | None = None, **kwargs: Any) -> None:
        # The refused socket's place in the lobby's queue of waiters (lobbies.seats).
        self.position = position
        super().__init__(message, **kwargs)


class InvalidLobbyPasswordError(LobbyError):
    code = "invalid_lobby_password"
    message = "That lobby password is not right. Check it and try again."
    http_status = 403


class NameTakenError(LobbyError):
    code = "name_taken"
    message = "Someone in this lobby already uses that name. Pick another."


class InvalidNameError(ValidationError):
    code = "invalid_name"
    message = "A name is 1 to 32 characters, with no control characters."


class KickedError(LobbyError):
    code = "kicked"
    message = "A moderator removed you from this lobby."
    close_code = 4003
    http_status = 403


class KickedRejoinError(KickedError):
    """A session or address kicked from the lobby less than VOICEBOT_KICK_BAN seconds ago tries to join again."""

    message = "You were removed from this lobby. You can join it again later."
    recovery = Recovery.RETRY


class LobbyLockedError(LobbyError):
    code = "lobby_locked"
    message = "This lobby is locked: its creator lets no one new in right now."
    http_status = 403


class PasswordCheckRequired(Exception):
    """Not an error: ``lobby_join`` asks its caller to check the password off the database thread."""

    def __init__(self, password_hash: str) -> None:
        super().__init__("the lobby's password must be checked")
        self.password_hash = password_hash
