"""The pages of the site: the lobby list, the room, the protocol, and the page for a missing one.

Views gather what a page needs to start (the lobby's public fields, the ICE
servers of this deployment, the limits the forms enforce) and render it; all
the rest happens in the browser through the JSON API and the lobby WebSocket.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from lobbies import models as lobby_models
from lobbies.exceptions import LobbyNotFoundError
from lobbies.selectors import lobby_get_open
from lobbies.services import PASSWORD_MAX_LENGTH
from lobbies.validation import LOBBY_SEARCH_MAX_LENGTH
from resilience.failures import DATABASE_ERRORS
from web.markdown_docs import markdown_document

PROTOCOL_DOCUMENT = settings.BASE_DIR / "docs" / "protocol.md"


def client_config(**page: Any) -> dict[str, Any]:
    """What a page's scripts read from its ``voicebot-config`` JSON element."""
    return {
        "iceServers": settings.VOICEBOT_ICE_SERVERS,
        "limits": {
            "nameMaxLength": lobby_models.NAME_MAX_LENGTH,
            "chatMaxLength": lobby_models.CHAT_TEXT_MAX_LENGTH,
            "lobbyNameMaxLength": lobby_models.LOBBY_NAME_MAX_LENGTH,
            "lobbyDescriptionMaxLength": lobby_models.LOBBY_DESCRIPTION_MAX_LENGTH,
            "passwordMaxLength": PASSWORD_MAX_LENGTH,
            "searchMaxLength": LOBBY_SEARCH_MAX_LENGTH,
        },
        **page,
    }


def problem(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    response = render(request, "web/problem.html", {"title": title, "message": message}, status=status)
    # The site's own page: web.middleware.NotFoundPageMiddleware leaves it as it is.
    response.voicebot_page = True  # type: ignore[attr-defined]
    return response


def page_not_found(request: HttpRequest) -> HttpResponse:
    return problem(
        request,
        title="Page not found",
        message="There is nothing at this address. The link may be mistyped, or it led to a lobby that has closed.",
        status=404,
    )


def home(request: HttpRequest) -> HttpResponse:
    limits = {
        "lobby_name_max_length": lobby_models.LOBBY_NAME_MAX_LENGTH,
        "lobby_description_max_length": lobby_models.LOBBY_DESCRIPTION_MAX_LENGTH,
        "password_max_length": PASSWORD_MAX_LENGTH,
        "search_max_length": LOBBY_SEARCH_MAX_LENGTH,
        "min_participants": lobby_models.MIN_PARTICIPANTS,
        "max_participants": lobby_models.MAX_PARTICIPANTS,
        "default_max_participants": lobby_models.DEFAULT_MAX_PARTICIPANTS,
    }
    return render(request, "web/home.html", {"config": client_config(page="home"), "limits": limits})


def protocol_docs(request: HttpRequest) -> HttpResponse:
    """docs/protocol.md as a page of the site."""
    document = markdown_document(PROTOCOL_DOCUMENT)
    return render(request, "web/document.html", {"document": document})


def lobby(request: HttpRequest, lobby_id: str) -> HttpResponse:
    try:
        room = lobby_get_open(lobby_id=lobby_id)
    except LobbyNotFoundError as exc:
        return problem(request, title="No such lobby", message=exc.user_message, status=404)
    except DATABASE_ERRORS:
        return problem(
            request,
            title="The server is having trouble",
            message="The server cannot reach its database right now. Reload this page in a moment.",
            status=503,
        )
    share_url = request.build_absolute_uri(reverse("lobby", kwargs={"lobby_id": room.id}))
    config = client_config(
        page="lobby",
        lobby={
            "id": room.id,
            "name": room.name,
            "private": room.private,
            "description": room.description,
            "hasPassword": room.has_password,
            "maxParticipants": room.max_participants,
        },
        socketPath=f"/ws/lobby/{room.id}/",
    )
    context = {
        "lobby": room,
        "share_url": share_url,
        "config": config,
        "name_max_length": lobby_models.NAME_MAX_LENGTH,
        "chat_max_length": lobby_models.CHAT_TEXT_MAX_LENGTH,
    }
    return render(request, "web/lobby.html", context)
