from channels.security.websocket import WebsocketDenier
from django.urls import re_path

from signaling.consumers import LobbyConsumer

websocket_urlpatterns = [
    re_path(r"^ws/lobby/(?P<lobby_id>[A-Za-z0-9_-]{1,16})/?$", LobbyConsumer.as_asgi()),
    # Anything else is refused at the handshake (HTTP 403).
    re_path(r"", WebsocketDenier.as_asgi()),
]
