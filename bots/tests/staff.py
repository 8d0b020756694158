"""A staff member using the admin of a live server over HTTP (login, one action), for end-to-end tests."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from web.tests.live_server import LiveServer, run_manage


class StaffBrowser:
    def __init__(self, server: LiveServer, log_path: Path) -> None:
        self.server = server
        self.username = f"staff-{uuid.uuid4().hex[:6]}"
        self.password = uuid.uuid4().hex
        run_manage(["createsuperuser", "--noinput", "--username", self.username, "--email", "staff@example.org"],
                   {**server.env, "DJANGO_SUPERUSER_PASSWORD": self.password}, log_path)
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.post_form("/admin/login/", {"username": self.username, "password": self.password,
                                         "next": "/admin/"})

    def csrf_token(self, path: str) -> str:
        with self.opener.open(self.server.url + path, timeout=10) as response:
            page = response.read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(self, path: str, fields: dict[str, str] | list[tuple[str, str]]) -> str:
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        items.append(("csrfmiddlewaretoken", self.csrf_token(path)))
        request = urllib.request.Request(self.server.url + path, data=urllib.parse.urlencode(items).encode())
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()

    def action(self, changelist: str, action: str, ids: list[str]) -> str:
        """Runs an admin action on the selected rows of a change list (e.g. /admin/lobbies/lobby/)."""
        return self.post_form(changelist, [("action", action), *[("_selected_action", i) for i in ids],
                                           ("index", "0")])
