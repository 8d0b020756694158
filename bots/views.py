"""The bots API: which bots there are, adding one to a lobby, removing it. Views parse, call one service, answer."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from bots import selectors, services
from lobbies.auth import request_session_id
from lobbies.events import emit_on_commit
from lobbies.views import json_body, require_method


@csrf_exempt
def bots_index(request: HttpRequest) -> JsonResponse:
    require_method(request, "GET")
    return JsonResponse({"kinds": selectors.bot_kinds_list(), "profiles": selectors.bot_profiles_list()})


@csrf_exempt
def lobby_bots(request: HttpRequest, lobby_id: str) -> JsonResponse:
    require_method(request, "POST")
    session_id = request_session_id(request, required=True)
    assert session_id is not None
    # The caller and the lobby are checked before the body is read (the protocol's order).
    selectors.bot_caller_check(lobby_id=lobby_id, session_id=session_id)
    body = json_body(request)
    bot = services.bot_add(lobby_id=lobby_id, session_id=session_id, kind=body.get("kind"),
                           profile=body.get("profile"))
    return JsonResponse({"session_id": bot.session_id}, status=202)


@csrf_exempt
def lobby_bot(request: HttpRequest, lobby_id: str, bot_session_id: str) -> HttpResponse:
    require_method(request, "DELETE")
    session_id = request_session_id(request, required=True)
    emit_on_commit(services.bot_remove(lobby_id=lobby_id, session_id=session_id, bot_session_id=bot_session_id))
    return HttpResponse(status=204)
