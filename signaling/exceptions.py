"""Errors of the signaling relay."""
from errors.exceptions import FatalConnectionError, PolicyViolationError, WebRTCError


class PeerNotFoundError(WebRTCError):
    code = "peer_not_found"
    message = "That participant is not in this lobby."
    http_status = 404


class InvalidSessionDescriptionError(WebRTCError):
    code = "invalid_session_description"
    message = (
        "That session description is invalid: it needs a type of offer, answer, pranswer "
        "or rollback and SDP text that starts with v=0."
    )


class InvalidIceCandidateError(WebRTCError):
    code = "invalid_ice_candidate"
    message = (
        "That ICE candidate is invalid: it needs a string 'candidate', and 'sdpMid', "
        "'sdpMLineIndex' and 'usernameFragment' must be strings, a whole number and strings, or null."
    )


class SendQueueFullError(PolicyViolationError):
    """The client stopped reading: more waited to be sent to it than VOICEBOT_SEND_QUEUE_* allow."""

    message = "This connection stopped reading its messages and fell too far behind; it was closed."


class PlaceLostError(FatalConnectionError):
    """Another server process took this socket's process for dead and gave its place the grace period."""

    message = "The server lost track of your place in the lobby. Reconnect to take it back."
