from django.contrib import admin
from django.urls import include, path, re_path

from lobbies.views import api_not_found
from ops import views as ops_views
from web import views as web_views

# The admin's lists need the width its navigation sidebar takes (the index lists the same pages).
admin.site.enable_nav_sidebar = False
admin.site.site_header = "VoiceBot administration"
admin.site.site_title = "VoiceBot admin"

urlpatterns = [
    path("", web_views.home, name="home"),
    path("lobby/<str:lobby_id>/", web_views.lobby, name="lobby"),
    re_path(r"^docs/protocol/?$", web_views.protocol_docs, name="protocol-docs"),
    path("livez", ops_views.livez, name="livez"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/", include("lobbies.urls")),
    path("api/", include("bots.urls")),
    re_path(r"^api/(?P<path>.*)$", api_not_found),
    path("admin/", admin.site.urls),
]
