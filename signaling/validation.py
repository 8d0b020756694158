"""Checks on what peers relay to each other: session descriptions and ICE candidates.

Each check returns a clean copy holding only the protocol's fields, so that a
relay never forwards anything a peer did not need.
"""
from __future__ import annotations

from typing import Any

from signaling.exceptions import InvalidIceCandidateError, InvalidSessionDescriptionError

DESCRIPTION_TYPES = frozenset({"offer", "answer", "pranswer", "rollback"})
# A frame is at most 64 KiB; an SDP may use nearly all of it.
SDP_MAX_LENGTH = 60 * 1024
CANDIDATE_MAX_LENGTH = 1024
SDP_MID_MAX_LENGTH = 64
UFRAG_MAX_LENGTH = 256
MLINE_INDEX_MAX = 1024


def session_description_clean(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise InvalidSessionDescriptionError("'description' must be an object with 'type' and 'sdp'.")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in DESCRIPTION_TYPES:
        raise InvalidSessionDescriptionError(
            "'description.type' must be one of offer, answer, pranswer, rollback."
        )
    sdp = raw.get("sdp", "" if kind == "rollback" else None)
    if not isinstance(sdp, str):
        raise InvalidSessionDescriptionError("'description.sdp' must be a string.")
    if kind != "rollback" and not sdp.startswith("v=0"):
        raise InvalidSessionDescriptionError("'description.sdp' must be SDP text starting with v=0.")
    if len(sdp) > SDP_MAX_LENGTH:
        raise InvalidSessionDescriptionError("'description.sdp' is too long.")
    return {"type": kind, "sdp": sdp}


def _optional_str_refused(key: str, max_length: int) -> InvalidIceCandidateError:
    return InvalidIceCandidateError(f"'candidate.{key}' must be a string of at most {max_length} characters, or null.")


def ice_candidate_clean(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidIceCandidateError("'candidate' must be an object with a 'candidate' string.")
    candidate = raw.get("candidate")
    # An empty string is the end-of-candidates marker.
    if not isinstance(candidate, str) or len(candidate) > CANDIDATE_MAX_LENGTH:
        raise InvalidIceCandidateError(f"'candidate.candidate' must be a string of at most {CANDIDATE_MAX_LENGTH} characters.")
    if candidate and not candidate.startswith(("candidate:", "a=candidate:")):
        raise InvalidIceCandidateError("'candidate.candidate' must be an ICE candidate line starting with 'candidate:'.")
    index = raw.get("sdpMLineIndex")
    if index is not None and (
        not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= MLINE_INDEX_MAX
    ):
        raise InvalidIceCandidateError("'candidate.sdpMLineIndex' must be a whole number from 0, or null.")
    # The two optional strings are checked in line: this runs for every candidate relayed.
    mid = raw.get("sdpMid")
    if mid is not None and (not isinstance(mid, str) or len(mid) > SDP_MID_MAX_LENGTH):
        raise _optional_str_refused("sdpMid", SDP_MID_MAX_LENGTH)
    ufrag = raw.get("usernameFragment")
    if ufrag is not None and (not isinstance(ufrag, str) or len(ufrag) > UFRAG_MAX_LENGTH):
        raise _optional_str_refused("usernameFragment", UFRAG_MAX_LENGTH)
    return {"candidate": candidate, "sdpMid": mid, "sdpMLineIndex": index, "usernameFragment": ufrag}
