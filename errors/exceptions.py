"""The exception hierarchy every part of VoiceBot raises.

Each error class carries, as class attributes, what the error boundary needs to
answer the client (``code``, ``message``, ``recovery``, ``http_status``,
``close_code``) and to file it (``category``, ``severity``). Apps add their own
few-line subclasses in their ``exceptions.py``; every concrete class registers
its code in ``ERROR_CODES`` so that the docs can be checked against it.
"""
from __future__ import annotations

from typing import Any, ClassVar

from errors.choices import Category, Recovery, Severity

# code -> the classes that raise it (several classes may share a code, e.g.
# service_unavailable for the database and for the channel layer).
ERROR_CODES: dict[str, list[type[VoiceBotError]]] = {}


class VoiceBotError(Exception):
    """Base of every error the server reports to a client."""

    code: ClassVar[str] = "internal_error"
    category: ClassVar[Category] = Category.SYSTEM
    severity: ClassVar[Severity] = Severity.HIGH
    recovery: ClassVar[Recovery] = Recovery.NONE
    http_status: ClassVar[int] = 500
    # A WebSocket close code when this error ends the connection, else None.
    close_code: ClassVar[int | None] = None
    # What a person is shown; safe to display, never internals.
    message: ClassVar[str] = "Something went wrong on the server."
    # Seconds to wait before retrying, for recovery "retry".
    retry_after: float | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.user_message = message or self.message
        if retry_after is not None:
            self.retry_after = retry_after
        self.context = context or {}
        super().__init__(self.user_message)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            ERROR_CODES.setdefault(cls.code, []).append(cls)


# --- Shared categories (the seed design's hierarchy) ----------------------


class WebSocketError(VoiceBotError):
    category = Category.WEBSOCKET
    severity = Severity.LOW
    http_status = 400


class WebRTCError(VoiceBotError):
    category = Category.WEBRTC
    severity = Severity.LOW
    http_status = 400


class SessionError(VoiceBotError):
    category = Category.SESSION
    severity = Severity.LOW
    http_status = 409


class LobbyError(VoiceBotError):
    category = Category.LOBBY
    severity = Severity.LOW
    http_status = 409


class AuthError(VoiceBotError):
    category = Category.AUTH
    severity = Severity.MEDIUM
    http_status = 401


class PersistenceError(VoiceBotError):
    category = Category.PERSISTENCE
    severity = Severity.HIGH
    http_status = 503


class NetworkError(VoiceBotError):
    category = Category.NETWORK
    severity = Severity.HIGH
    http_status = 503


class ValidationError(VoiceBotError):
    category = Category.VALIDATION
    severity = Severity.LOW
    http_status = 400


class BotError(VoiceBotError):
    category = Category.BOT
    severity = Severity.MEDIUM
    http_status = 502


# --- Frames and requests --------------------------------------------------


class InvalidJsonError(ValidationError):
    code = "invalid_json"
    message = "That message is not valid JSON."


class InvalidMessageError(ValidationError):
    code = "invalid_message"
    message = "That message is malformed: send a JSON object with a string 'type'."


class UnknownMessageTypeError(WebSocketError):
    code = "unknown_message_type"
    message = "That message type is not part of the protocol."


class MessageTooLargeError(WebSocketError):
    code = "message_too_large"
    message = "That message is larger than 64 KiB."
    http_status = 413


class RateLimitedError(WebSocketError):
    code = "rate_limited"
    message = "You are sending too fast. Wait a moment and try again."
    recovery = Recovery.RETRY
    http_status = 429
    retry_after = 1.0


class PolicyViolationError(WebSocketError):
    code = "policy_violation"
    message = "Too many bad or excessive messages; the connection was closed."
    severity = Severity.MEDIUM
    recovery = Recovery.RECONNECT
    close_code = 4008
    http_status = 429


class NotFoundError(ValidationError):
    code = "not_found"
    message = "There is nothing at that address."
    http_status = 404


class MethodNotAllowedError(ValidationError):
    code = "method_not_allowed"
    message = "That method is not allowed on this address."
    http_status = 405


# --- Sessions and auth ----------------------------------------------------


class UnauthenticatedError(AuthError):
    code = "unauthenticated"
    message = "Your session token is missing, invalid or expired. Start a new session."
    recovery = Recovery.REAUTHENTICATE
    close_code = 4001
    http_status = 401


class ForbiddenError(AuthError):
    code = "forbidden"
    message = "You are not allowed to do that."
    http_status = 403


class SessionReplacedError(SessionError):
    code = "session_replaced"
    message = "This session was opened in another window or tab."
    close_code = 4009


class NotJoinedError(SessionError):
    code = "not_joined"
    message = "Join the lobby first."
    recovery = Recovery.REJOIN


class AlreadyJoinedError(SessionError):
    code = "already_joined"
    message = "You are already in this lobby."


# --- Dependencies ---------------------------------------------------------


class DatabaseUnavailableError(PersistenceError):
    code = "service_unavailable"
    message = "The server is having trouble storing data. Try again in a moment."
    recovery = Recovery.RETRY
    retry_after = 2.0


class ChannelLayerUnavailableError(NetworkError):
    code = "service_unavailable"
    message = "The server cannot reach the other participants right now. Try again in a moment."
    recovery = Recovery.RETRY
    retry_after = 2.0


# --- The unexpected -------------------------------------------------------


class InternalServerError(VoiceBotError):
    """Stands in for any exception that is not a VoiceBotError."""

    code = "internal_error"
    message = "Something went wrong on the server. It has been logged."
    recovery = Recovery.RETRY
    retry_after = 1.0


class FatalConnectionError(InternalServerError):
    """An unexpected failure that leaves this socket's state unusable."""

    message = "Something went wrong on the server. Reconnect to continue."
    recovery = Recovery.RECONNECT
    retry_after = None
    close_code = 4011
