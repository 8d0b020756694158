from django.urls import re_path

from bots import views

urlpatterns = [
    re_path(r"^bots/?$", views.bots_index, name="bots"),
    re_path(r"^lobbies/(?P<lobby_id>[A-Za-z0-9_-]{1,16})/bots/?$", views.lobby_bots, name="lobby-bots"),
    re_path(r"^lobbies/(?P<lobby_id>[A-Za-z0-9_-]{1,16})/bots/(?P<bot_session_id>[A-Za-z0-9]{1,64})/?$",
            views.lobby_bot, name="lobby-bot"),
]
