"""The ASGI entry point: HTTP to Django, WebSockets through the middleware stack.

The WebSocket stack, outermost first: the origin check (a foreign browser
Origin is refused at the handshake), the session-token check (puts the
session in the scope, takes the token out of it), then the URL router.
HTTP requests start the process's presence task (heartbeat and sweeps) as
sockets do. The lifespan protocol runs the process's shutdown work (ops.lifespan).

Outside all of it, with ``VOICEBOT_TRUSTED_PROXIES`` set, uvicorn's
``ProxyHeadersMiddleware`` takes the client's address (and scheme) from
``X-Forwarded-For`` (``-Proto``) of those proxies only, under uvicorn and
daphne alike; ``manage.py serve`` turns the servers' own handling of these
headers off (uvicorn believes them from loopback by default).
"""
import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.core.asgi import get_asgi_application
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
django_asgi_app = get_asgi_application()

from voicebot_site.startup import serving_settings_check  # noqa: E402

serving_settings_check()

from lobbies.auth import SessionTokenAuthMiddleware  # noqa: E402  (needs Django set up)
from lobbies.presence import PresenceStartMiddleware  # noqa: E402
from ops.lifespan import lifespan  # noqa: E402
from signaling.routing import websocket_urlpatterns  # noqa: E402
from signaling.security import BrowserOriginValidator  # noqa: E402

voicebot_application = ProtocolTypeRouter(
    {
        "http": PresenceStartMiddleware(django_asgi_app),
        "websocket": BrowserOriginValidator(SessionTokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
        "lifespan": lifespan,
    }
)

application = (
    ProxyHeadersMiddleware(voicebot_application, trusted_hosts=settings.VOICEBOT_TRUSTED_PROXIES)
    if settings.VOICEBOT_TRUSTED_PROXIES
    else voicebot_application
)
