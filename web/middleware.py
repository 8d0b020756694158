"""The site's own "Page not found" for every unknown address, with DEBUG on or off."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from web.views import page_not_found


class NotFoundPageMiddleware:
    """Replaces any 404 outside the JSON API with the site's page.

    Django answers an address no URL matches (and an ``Http404`` a view
    raises) with its debug page under DEBUG and a bare "Not Found" without;
    both become the page people see elsewhere on the site. The API keeps its
    JSON error body, and a page the site rendered itself (e.g. "No such
    lobby") is left as it is. Listed after CommonMiddleware, so that a path
    missing its trailing slash is still redirected to the one that exists.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 404 or getattr(response, "voicebot_page", False):
            return response
        if request.path.startswith("/api/"):
            return response
        return page_not_found(request)
