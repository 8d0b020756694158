"""Security headers of every page: what a page may load and which browser features it may use."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# Pages whose templates (the Django admin, the protocol page) carry inline style attributes.
INLINE_STYLE_PREFIXES = ("/admin/", "/docs/")
# The lobby page needs the microphone of its own origin; nothing needs the rest.
PERMISSIONS_POLICY = (
    "microphone=(self), camera=(), display-capture=(), geolocation=(), payment=(), usb=(), "
    "serial=(), bluetooth=(), midi=(), interest-cohort=()"
)


def content_security_policy(request: HttpRequest) -> str:
    host = request.get_host()
    styles = "'self' 'unsafe-inline'" if request.path.startswith(INLINE_STYLE_PREFIXES) else "'self'"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        f"style-src {styles}",
        "img-src 'self' data:",
        # The lobby socket, on this very host (older browsers do not count ws: as 'self').
        f"connect-src 'self' ws://{host} wss://{host}",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy and Permissions-Policy to HTML answers that have none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
            response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
