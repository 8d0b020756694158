"""The pages: what the server renders for the home page and a lobby's room."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

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
        "id": lobby_id, "name": "Band practice", "private": False, "hasPassword": False, "maxParticipants": 4,
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
