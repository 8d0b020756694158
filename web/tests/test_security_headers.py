"""Every page says what it may load (Content-Security-Policy) and which browser features it may use."""
from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in header.split("; ")}


@pytest.mark.parametrize("page", ["/", "/lobby/{lobby}/", "/lobby/nosuchlobby/"])
def test_pages_send_a_strict_policy_that_their_own_markup_keeps(
    client: Client, new_lobby: Callable[..., str], page: str
) -> None:
    response = client.get(page.format(lobby=new_lobby()))
    directives = policy(response)
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["connect-src"] == "'self' ws://testserver wss://testserver"
    assert "microphone=(self)" in response["Permissions-Policy"]
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    html = response.content.decode()
    # Nothing the policy would block: no inline script, no inline style.
    for script in re.findall(r"<script[^>]*>", html):
        assert " src=" in script or 'type="application/json"' in script, script
    assert " style=" not in html and "<style" not in html


def test_admin_pages_may_use_their_inline_styles(client: Client) -> None:
    response = client.get("/admin/login/")
    directives = policy(response)
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self' 'unsafe-inline'"


def test_api_answers_carry_no_page_policy(client: Client) -> None:
    assert "Content-Security-Policy" not in client.get("/api/lobbies")
