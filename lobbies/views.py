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
from lobbies.selectors import LOBBY_PAGE_DEFAULT_SIZE, LOBBY_PAGE_MAX_SIZE

# Session and lobby creation are limited per client address (and lobbies per
# session), in this process's memory: each process enforcing them alone is
# enough to stop one client flooding.
_session_rate_limiter = MovingWindowRateLimiter(MemoryStorage())
_lobby_rate_limiter = MovingWindowRateLimiter(MemoryStorage())
# A page number has at most this many digits.
PAGE_NUMBER_MAX_DIGITS = 6


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
        page = selectors.lobby_list_public(
            query=request.GET.get("q", ""),
            page=_whole_number(request.GET.get("page"), "page", default=1, highest=10 ** PAGE_NUMBER_MAX_DIGITS - 1),
            per_page=_whole_number(request.GET.get("per_page"), "per_page", default=LOBBY_PAGE_DEFAULT_SIZE,
                                   highest=LOBBY_PAGE_MAX_SIZE),
        )
        return JsonResponse(page.as_json())
    session_id = request_session_id(request, required=True)
    _lobby_rate_check(session_id=session_id, address=client_address(request))
    body = json_body(request)
    lobby = services.lobby_create(
        session_id=session_id,
        name=body.get("name"),
        private=body.get("private", False),
        password=body.get("password"),
        max_participants=body.get("max_participants", DEFAULT_MAX_PARTICIPANTS),
        description=body.get("description"),
    )
    return JsonResponse(lobby_public(lobby, participant_count=0), status=201)


def _lobby_rate_check(*, session_id: str, address: str) -> None:
    """Counts one lobby against the session's and the address's budgets, or refuses it (counting nothing)."""
    budgets = (
        (parse(settings.VOICEBOT_LOBBY_RATE), "lobbies-session", session_id,
         "You have created many lobbies in a short time. Use one of them, or wait {wait}."),
        (parse(settings.VOICEBOT_LOBBY_ADDRESS_RATE), "lobbies-address", address,
         "Many lobbies were created from your network in a short time. Wait {wait}, then try again."),
    )
    for limit, scope, key, text in budgets:
        if not _lobby_rate_limiter.test(limit, scope, key):
            reset_at, _ = _lobby_rate_limiter.get_window_stats(limit, scope, key)
            wait = _seconds_until(reset_at)
            raise RateLimitedError(text.format(wait=_spoken_wait(wait)), retry_after=wait)
    for limit, scope, key, _ in budgets:
        _lobby_rate_limiter.hit(limit, scope, key)


def _whole_number(raw: str | None, name: str, *, default: int, highest: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > PAGE_NUMBER_MAX_DIGITS or not 1 <= int(raw) <= highest:
        raise InvalidMessageError(f"'{name}' must be a whole number from 1 to {highest}.")
    return int(raw)


def _spoken_wait(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes >= 2:
        return f"{minutes} minutes"
    return "a minute" if seconds > 45 else f"{max(1, round(seconds))} seconds"


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
