"""The WebSocket error boundary: a dispatch wrapper for Channels consumers.

Every message a consumer handles (a client frame, a channel-layer event, the
connect and the disconnect) passes through ``dispatch``. Whatever it raises is
reported once and answered with an ``error`` frame; an error with a
``close_code`` then closes the socket. A bad frame never ends the connection
by itself, but too many of them in a window do (``policy_violation``).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from channels.exceptions import StopConsumer

from errors.boundary import error_envelope, report_error
from errors.exceptions import (
    InternalServerError,
    NetworkError,
    PersistenceError,
    PolicyViolationError,
    VoiceBotError,
)
from errors.throttle import MovingWindow, window_for
from resilience.channel_layer import channel_layer
from voicebot_site.settings_snapshot import SettingsSnapshot

logger = logging.getLogger("voicebot.errors")

BAD_FRAME_SETTINGS = SettingsSnapshot(limit="VOICEBOT_BAD_FRAME_LIMIT")


def counts_as_bad_frame(error: VoiceBotError) -> bool:
    """Errors the client caused; the server's own failures never count against it."""
    return not isinstance(error, (InternalServerError, PersistenceError, NetworkError))


class ErrorBoundaryMixin:
    """Mix in before a Channels websocket consumer class."""

    # Set by the consumer while it handles one client frame.
    frame_type: str | None = None
    frame_id: str | None = None
    socket_accepted: bool = False
    socket_closed: bool = False
    # This socket's bad frames in the last VOICEBOT_BAD_FRAME_LIMIT window.
    bad_frames: MovingWindow | None = None

    # Channels sets ``channel_receive`` to the layer's receive for this
    # socket's channel; the boundary hands out a guarded one instead, so that
    # a channel-layer outage makes the socket wait, not die (see
    # GuardedChannelLayer.receive_with).
    @property
    def channel_receive(self) -> Any:
        return self._guarded_channel_receive

    @channel_receive.setter
    def channel_receive(self, receive: Any) -> None:
        self._raw_channel_receive = receive

    async def _guarded_channel_receive(self) -> dict[str, Any]:
        return await channel_layer().receive_with(self._raw_channel_receive)

    def error_scope(self) -> tuple[str | None, str | None]:
        """(lobby_id, session_id) of this socket, for reports."""
        return None, None

    def error_address(self) -> str | None:
        """The client's address, for reports."""
        client = getattr(self, "scope", {}).get("client")
        return client[0] if client else None

    async def dispatch(self, message: dict[str, Any]) -> None:
        try:
            await super().dispatch(message)  # type: ignore[misc]
        except StopConsumer:
            raise
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            await self.handle_error(exc, message)
            if message["type"] == "websocket.disconnect":
                raise StopConsumer() from None
        finally:
            self.frame_type = None
            self.frame_id = None
            if message["type"] == "websocket.disconnect" and getattr(self, "channel_name", None):
                channel_layer().channel_forget(self.channel_name)  # type: ignore[attr-defined]

    async def handle_error(self, exc: BaseException, message: dict[str, Any]) -> None:
        is_frame = message["type"] == "websocket.receive"
        where = (self.frame_type or "frame") if is_frame else message["type"]
        lobby_id, session_id = self.error_scope()
        error, report = report_error(
            exc,
            transport="websocket",
            where=where,
            lobby_id=lobby_id,
            session_id=session_id,
            # An unexpected failure outside a client frame may leave this
            # socket's state half-changed: such a socket is closed (4011).
            fatal=not is_frame,
            address=self.error_address(),
        )
        if message["type"] == "websocket.disconnect":
            return
        await self.send_error(error, report.correlation_id, in_reply_to=self.frame_id if is_frame else None)
        if error.close_code is not None:
            await self.close_with(error.close_code)
            return
        if is_frame and counts_as_bad_frame(error) and not self.allow_bad_frame():
            violation, violation_report = report_error(
                PolicyViolationError(), transport="websocket", where=where, lobby_id=lobby_id, session_id=session_id,
                address=self.error_address(),
            )
            await self.send_error(violation, violation_report.correlation_id)
            await self.close_with(PolicyViolationError.close_code)

    def allow_bad_frame(self) -> bool:
        self.bad_frames = window_for(self.bad_frames, MovingWindow, BAD_FRAME_SETTINGS.limit)
        return self.bad_frames.hit() is None

    async def send_error(self, error: VoiceBotError, correlation_id: str, in_reply_to: str | None = None) -> None:
        if self.socket_closed:
            return
        if not self.socket_accepted:
            # Accept first so that the client can read why it is refused.
            await self.accept()  # type: ignore[attr-defined]
        await self.send_frame(error_envelope(error, correlation_id, in_reply_to))

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Send one JSON frame (a consumer with a faster encoder of its own overrides this)."""
        await self.send(text_data=json.dumps(frame))  # type: ignore[attr-defined]

    async def close_with(self, code: int) -> None:
        if self.socket_closed:
            return
        self.socket_closed = True
        await self.close(code=code)  # type: ignore[attr-defined]
