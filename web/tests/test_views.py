"""The pages: what the server renders for the home page and a lobby's room."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

pytestmark = pytest.mark.django_db


def page_config(html: str) -> dict[str, object]:
    match = re.search(r'<script id="voicebot-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page has no voicebot-config"
    return json.loads(match.group(1))


def test_home_lists_lobbies_and_offers_create_and_join_forms(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="lobby-list"' in html and 'aria-live="polite"' in html
    for label in ('for="lobby-name"', 'for="lobby-max"', 'for="lobby-password"', 'for="lobby-private"', 'for="lobby-link"'):
        assert label in html
    assert 'min="2" max="16"' in html
    assert page_config(html)["page"] == "home"
    assert '<script type="module" src="/static/web/js/home-page.js">' in html


def test_lobby_page_starts_the_client_with_the_lobby_and_share_link(
    client: Client, new_lobby: Callable[..., str]
) -> None:
    lobby_id = new_lobby(name="Band practice", max_participants=4)
    response = client.get(f"/lobby/{lobby_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1 id=\"lobby-title\">Band practice</h1>" in html
    assert f'value="http://testserver/lobby/{lobby_id}/"' in html
    assert 'id="join-password"' not in html
    config = page_config(html)
    assert config["lobby"] == {
        "id": lobby_id, "name": "Band practice", "description": "", "private": False, "hasPassword": False,
        "maxParticipants": 4,
    }
    assert config["socketPath"] == f"/ws/lobby/{lobby_id}/"
    assert config["iceServers"] == []


def test_lobby_with_a_password_asks_for_it(client: Client, new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby(name="Secret", private=True, password="sesame")
    html = client.get(f"/lobby/{lobby_id}/").content.decode()
    assert 'id="join-password"' in html and 'for="join-password"' in html
    assert page_config(html)["lobby"]["hasPassword"] is True
    assert "sesame" not in html


def test_ice_servers_come_from_settings(client: Client, new_lobby: Callable[..., str]) -> None:
    servers = [{"urls": "stun:stun.example.org:3478"}, {"urls": ["turn:turn.example.org"], "username": "u", "credential": "c"}]
    lobby_id = new_lobby()
    with override_settings(VOICEBOT_ICE_SERVERS=servers):
        html = client.get(f"/lobby/{lobby_id}/").content.decode()
    assert page_config(html)["iceServers"] == servers


def test_lobby_name_is_escaped(client: Client, new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby(name="</script><b>x</b>")
    html = client.get(f"/lobby/{lobby_id}/").content.decode()
    assert "<b>x</b>" not in html
    assert page_config(html)["lobby"]["name"] == "</script><b>x</b>"


def test_unknown_lobby_gets_a_readable_page(client: Client) -> None:
    response = client.get("/lobby/doesnotexist/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "No such lobby" in html and "does not exist or has been closed" in html
    assert "{" not in re.sub(r"<style.*?</style>", "", html, flags=re.S)


def test_static_modules_are_served_as_javascript(client: Client) -> None:
    for name in ("lobby-page.js", "protocol-client.js", "peer-mesh.js", "negotiation.js"):
        response = client.get(f"/static/web/js/{name}")
        assert response.status_code == 200, name
        assert "javascript" in response["Content-Type"], response["Content-Type"]


def test_pages_and_assets_load_nothing_from_other_hosts(client: Client, new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby()
    pages = [client.get("/").content.decode(), client.get(f"/lobby/{lobby_id}/").content.decode()]
    for html in pages:
        for url in re.findall(r'(?:src|href)="([^"]*)"', html):
            assert url.startswith(("/", "#")) or url.startswith("http://testserver/"), url
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".js", ".css"}:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"""(?:import|from)\s*\(?\s*["'](?:https?:)?//""", text), path
            assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text), path


# --- The protocol page -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/docs/protocol", "/docs/protocol/"])
def test_protocol_page_is_html_in_the_site_layout(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<header class="site-header">' in html
    assert "<title>The VoiceBot protocol · VoiceBot</title>" in html
    assert '<h2 id="the-http-api">The HTTP API <a class="header-anchor" href="#the-http-api">#</a></h2>' in html
    assert "<table>" in html and "<th>code</th>" in html and "| code |" not in html
    assert "<pre>" not in html.split('<article class="card document">')[0]
    assert "<script" not in html.split('<article class="card document">')[1].split("</article>")[0]


def test_every_link_of_the_protocol_page_to_its_own_sections_has_a_target(client: Client) -> None:
    html = client.get("/docs/protocol").content.decode()

    article = html.split('<article class="card document">')[1]
    targets = set(re.findall(r'<h[1-6] id="([^"]+)"', article))
    links = set(re.findall(r'href="#([^"]+)"', article))
    assert {"names", "limits", "error-codes", "close-codes", "dropping-and-reconnecting"} <= targets
    assert links - targets == set()


def test_markdown_is_rendered_without_raw_html_or_script_links() -> None:
    from web.markdown_docs import markdown_render

    rendered = markdown_render(
        "# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) and `<id>` and [ok](#title)\n"
    )

    assert rendered.title == "Title"
    assert "<script" not in rendered.html and "<img" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert 'href="javascript:' not in rendered.html
    assert "<code>&lt;id&gt;</code>" in rendered.html and '<a href="#title">ok</a>' in rendered.html


# --- Unknown addresses -----------------------------------------------------------------


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "no-debug"])
@pytest.mark.parametrize("path", ["/nothing-here", "/lobby/", "/docs/nope/", "/static/web/js/missing.js"])
def test_an_unknown_address_gets_the_sites_own_404_page(client: Client, debug: bool, path: str) -> None:
    with override_settings(DEBUG=debug):
        response = client.get(path)

    assert response.status_code == 404
    html = response.content.decode()
    assert '<header class="site-header">' in html and "<h1>Page not found</h1>" in html
    assert "URLconf" not in html and "Django" not in html


def test_an_unknown_admin_page_gets_the_sites_404_page_under_debug(
    client: Client, django_user_model: Any
) -> None:
    client.force_login(django_user_model.objects.create_superuser("admin", password="x"))

    with override_settings(DEBUG=True):
        response = client.get("/admin/nothing/here/")

    assert response.status_code == 404 and "<h1>Page not found</h1>" in response.content.decode()


def test_the_api_keeps_its_json_404_and_a_missing_lobby_its_own_page(client: Client) -> None:
    with override_settings(DEBUG=True):
        api = client.get("/api/nothing")
        lobby = client.get("/lobby/doesnotexist/")

    assert api.status_code == 404 and api.json()["code"] == "not_found"
    assert lobby.status_code == 404 and "<h1>No such lobby</h1>" in lobby.content.decode()


def test_a_lobby_link_without_its_trailing_slash_still_redirects(client: Client, new_lobby: Callable[..., str]) -> None:
    lobby_id = new_lobby()

    response = client.get(f"/lobby/{lobby_id}")

    assert response.status_code == 301 and response["Location"] == f"/lobby/{lobby_id}/"
