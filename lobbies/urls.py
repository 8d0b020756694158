from django.urls import re_path

from lobbies import views

urlpatterns = [
    re_path(r"^sessions/?$", views.sessions, name="sessions"),
    re_path(r"^lobbies/?$", views.lobbies, name="lobbies"),
    re_path(r"^lobbies/(?P<lobby_id>[A-Za-z0-9_-]{1,16})/?$", views.lobby_detail, name="lobby-detail"),
]
