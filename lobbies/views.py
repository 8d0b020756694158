"""The JSON API: sessions and lobbies. Views parse, call one service, answer."""
from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from errors.exceptions import (
    InvalidJsonError,
    InvalidMessageError,
    MessageTooLargeError,
    MethodNotAllowedError,
    NotFoundError,
    RateLimitedError,
)
from lobbies import selectors, services
from lobbies.auth import request_session_id
from lobbies.models import DEFAULT_MAX_PARTICIPANTS
from lobbies.presenters import lobby_public

# Session creation is limited per client address, in this process's memory:
# each process enforcing it alone is enough to stop one client flooding.
_session_rate_limiter = MovingWindowRateLimiter(MemoryStorage())


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig:
        # Past Django's own ceiling (DATA_UPLOAD_MAX_MEMORY_SIZE) the body is never read.
        raise MessageTooLargeError("That request body is larger than 64 KiB.") from None
    if len(raw) > settings.VOICEBOT_MAX_FRAME_BYTES:
        raise MessageTooLargeError("That request body is larger than 64 KiB.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidJsonError("The request body is not valid JSON.") from None
    except RecursionError:
        raise InvalidJsonError("The request body is nested too deeply to be read.") from None
    if not isinstance(body, dict):
        raise InvalidMessageError("The request body must be a JSON object.")
    return body


def require_method(request: HttpRequest, *allowed: str) -> None:
    if request.method not in allowed:
        raise MethodNotAllowedError(context={"allow": ", ".join(allowed)})


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


@csrf_exempt
def sessions(request: HttpRequest) -> JsonResponse:
    require_method(request, "POST")
    limit = parse(settings.VOICEBOT_SESSION_RATE)
    if not _session_rate_limiter.hit(limit, "sessions", client_address(request)):
        reset_at, _ = _session_rate_limiter.get_window_stats(limit, "sessions", client_address(request))
        raise RateLimitedError("Too many sessions from this address. Wait a moment.",
                               retry_after=_seconds_until(reset_at))
    body = json_body(request)
    session, token = services.session_create(name=body.get("name"))
    return JsonResponse({"session_id": session.id, "token": token, "name": session.name or None}, status=201)


@csrf_exempt
def lobbies(request: HttpRequest) -> JsonResponse:
    require_method(request, "GET", "POST")
    if request.method == "GET":
        return JsonResponse({"lobbies": selectors.lobby_list_public()})
    session_id = request_session_id(request, required=True)
    body = json_body(request)
    lobby = services.lobby_create(
        session_id=session_id,
        name=body.get("name"),
        private=body.get("private", False),
        password=body.get("password"),
        max_participants=body.get("max_participants", DEFAULT_MAX_PARTICIPANTS),
    )
    return JsonResponse(lobby_public(lobby, participant_count=0), status=201)


@csrf_exempt
def lobby_detail(request: HttpRequest, lobby_id: str) -> JsonResponse:
    require_method(request, "GET")
    viewer = request_session_id(request, required=False)
    return JsonResponse(selectors.lobby_detail(lobby_id=lobby_id, viewer_session_id=viewer))


@csrf_exempt
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    raise NotFoundError()


def _seconds_until(reset_at: float) -> float:
    return max(1.0, round(reset_at - time.time(), 1))
