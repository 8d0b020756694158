"""The pages as people see them at laptop and phone widths, with the screenshots in docs/.

Every run checks the layouts (nothing wider than the window, the admin lists'
key columns in view at 1280 px, an error group's messages readable) and saves
a screenshot of each page at 1280 and 390 px wide under test-artifacts/screenshots/;
``VOICEBOT_UPDATE_SCREENSHOTS=1`` also copies them to docs/screenshots/ (and the
lobby at 1280 px to docs/screenshot-lobby.png, the README's picture).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from web.tests.chromium import ARTIFACTS
from web.tests.live_server import BASE_DIR, run_manage
from web.tests.lobby_pages import api_post, join, participant, wait_audio_flowing, wait_in_room
from web.tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

WIDTHS = {"wide": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SHOTS = ARTIFACTS / "screenshots"
DOCS_SHOTS = BASE_DIR / "docs" / "screenshots"
STAFF_PASSWORD = "screens-and-lists-0"


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"VOICEBOT_LOBBY_RATE": "100/1 minute", "VOICEBOT_LOBBY_ADDRESS_RATE": "100/1 minute"}


async def save(page: Any, name: str, *, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("VOICEBOT_UPDATE_SCREENSHOTS"):
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / path.name)
        if name == "lobby-wide":
            shutil.copyfile(path, BASE_DIR / "docs" / "screenshot-lobby.png")
    return path


async def fits_the_window(page: Any) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def request(base_url: str, method: str, path: str, body: bytes | None = None, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{base_url}{path}", data=body, headers=headers,
                                                           method=method), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def speaking(page: Any, name: str) -> bool:
    return await participant(page, name).get_attribute("data-speaking") == "true"


async def seat(daphne_server: Any, lobby_id: str, name: str) -> Any:
    from websockets.asyncio.client import connect

    session = await asyncio.to_thread(api_post, daphne_server.url, "/api/sessions", {})
    socket = await connect(f"ws://127.0.0.1:{daphne_server.port}/ws/lobby/{lobby_id}/?token={session['token']}")
    await socket.send(json.dumps({"type": "join", "name": name}))
    return socket


async def test_home_and_lobby_pages_at_laptop_and_phone_widths(open_page: Any, daphne_server: Any) -> None:
    owner = await asyncio.to_thread(api_post, daphne_server.url, "/api/sessions", {})
    lobbies = [
        ("Friday game night", "Board games from 8 pm; bring snacks", {}),
        ("Book club", "Chapter 3 of The Left Hand of Darkness", {"password": "ansible"}),
        ("Spanish practice", "Intermediate, slow and friendly", {"max_participants": 4}),
        ("Band rehearsal", "", {"max_participants": 6}),
        ("Study hall", "Quiet co-working, mics muted", {}),
    ]
    ids = {}
    for name, description, extra in lobbies:
        body = {"name": name, "description": description, **extra}
        ids[name] = (await asyncio.to_thread(api_post, daphne_server.url, "/api/lobbies", body, owner["token"]))["id"]
    sockets = [await seat(daphne_server, ids["Spanish practice"], n) for n in ("Ana", "Luis", "Marta", "Sol")]
    sockets += [await seat(daphne_server, ids["Band rehearsal"], n) for n in ("Kim", "Lee")]
    try:
        home = await open_page("home", viewport=WIDTHS["wide"])
        await home.goto("/")
        await home.locator("#lobby-list .lobby-count", has_text="4 of 4 · full").wait_for()
        for width, viewport in WIDTHS.items():
            await home.set_viewport_size(viewport)
            assert await fits_the_window(home), width
            await save(home, f"home-{width}", full_page=True)

        ann = await open_page("ann", viewport=WIDTHS["wide"])
        await ann.goto(f"/lobby/{ids['Friday game night']}/")
        await join(ann, "Ann")
        bob = await open_page("bob")
        await join(bob, "Bob", lobby_id=ids["Friday game night"])
        cleo = await open_page("cleo")
        await join(cleo, "Cleo", lobby_id=ids["Friday game night"])
        for page in (ann, bob, cleo):
            await wait_in_room(page, 3)
        await wait_audio_flowing([ann, bob, cleo], peers=2)
        for page, text in ((bob, "Who is bringing the cards?"), (ann, "I have Codenames and Hanabi."),
                           (cleo, "Running five minutes late, start without me!")):
            await page.get_by_label("Message", exact=True).fill(text)
            await page.get_by_label("Message", exact=True).press("Enter")
        await ann.locator("#chat-log li", has_text="five minutes late").wait_for()
        await cleo.get_by_role("button", name="Mute").click()
        await participant(ann, "Cleo").and_(ann.locator("[data-muted=true]")).wait_for()
        await ann.get_by_label("Volume of Bob").fill("70")
        await ann.evaluate("document.activeElement.blur()")
        await participant(ann, "Bob").and_(ann.locator("[data-speaking=true]")).wait_for()
        for width, viewport in WIDTHS.items():
            await ann.set_viewport_size(viewport)
            # The picture is best taken while the beep lights Bob's ring (already seen above).
            await eventually(lambda: speaking(ann, "Bob"), deadline=5, what="Bob's ring", soft=True)
            assert await fits_the_window(ann), width
            await save(ann, f"lobby-{width}", full_page=width == "phone")
    finally:
        for socket in sockets:
            await socket.close()


async def assert_columns_in_view(page: Any) -> None:
    """Every column of the admin list ends inside the list's box (which would scroll otherwise)."""
    edges = await page.evaluate(
        "({box: document.querySelector('#changelist .results').getBoundingClientRect().right,"
        " columns: [...document.querySelectorAll('#result_list thead th')].map((th) => th.getBoundingClientRect().right)})"
    )
    assert max(edges["columns"]) <= edges["box"] + 0.5, edges


async def make_errors(daphne_server: Any) -> None:
    """A handful of different errors, as clients cause them, stored by the server."""
    from websockets.asyncio.client import connect

    base = daphne_server.url
    session = await asyncio.to_thread(api_post, base, "/api/sessions", {})
    for method, path, body, token in [
        ("POST", "/api/sessions", b"{not json", None),
        ("POST", "/api/lobbies", b'{"name": "x"}', None),
        ("POST", "/api/lobbies", b'{"name": "     "}', session["token"]),
        ("PUT", "/api/lobbies", b"", None),
        ("GET", "/api/nothing-here", None, None),
        ("GET", "/api/lobbies?page=zero", None, None),
        ("GET", "/api/lobbies/doesnotexist", None, None),
    ]:
        await asyncio.to_thread(request, base, method, path, body, token)
    lobby = await asyncio.to_thread(api_post, base, "/api/lobbies", {"name": "Errors"}, session["token"])
    async with connect(f"ws://127.0.0.1:{daphne_server.port}/ws/lobby/{lobby['id']}/?token={session['token']}") as ws:
        for frame in ('{"type": "dance"}', "[1, 2]", '{"type": "chat", "text": "hi"}',
                      '{"type": "join", "name": "Ann"}',
                      '{"type": "relay_ice_candidate", "peer_id": "nobody", "candidate": {"candidate": ""}}',
                      '{"type": "set_muted", "muted": "yes"}', '{"type": "chat", "text": ""}'):
            await ws.send(frame)
            await asyncio.wait_for(ws.recv(), 10)


async def test_the_admin_lists_keep_their_key_columns_in_view(open_page: Any, daphne_server: Any) -> None:
    await asyncio.to_thread(
        run_manage, ["createsuperuser", "--noinput", "--username", "staff", "--email", "staff@example.org"],
        {**daphne_server.env, "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD}, daphne_server.log_path,
    )
    await make_errors(daphne_server)
    page = await open_page("staff", viewport=WIDTHS["wide"])
    await page.goto("/admin/login/?next=/admin/errors/errorgroup/")
    await page.get_by_label("Username").fill("staff")
    await page.get_by_label("Password").fill(STAFF_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**/admin/errors/errorgroup/")

    async def groups() -> int:
        await page.reload()
        return await page.locator("#result_list tbody tr").count() >= 8

    await eventually(groups, deadline=15, what="the stored error groups listed")
    # At 1280 px nothing is off to the right.
    await assert_columns_in_view(page)
    assert await fits_the_window(page)
    for width, viewport in WIDTHS.items():
        await page.set_viewport_size(viewport)
        await save(page, f"admin-error-groups-{width}", full_page=width == "phone")

    await page.set_viewport_size(WIDTHS["wide"])
    await page.locator("#result_list tbody tr").first.locator("th a, td a").first.click()
    await page.locator(".inline-group").wait_for()
    message_width = await page.evaluate(
        "Math.min(...[...document.querySelectorAll('.inline-group td.field-event_message')]"
        ".map((td) => td.getBoundingClientRect().width))"
    )
    assert message_width >= 300, f"the events' messages are squeezed to {message_width} px"
    assert await fits_the_window(page)
    for width, viewport in WIDTHS.items():
        await page.set_viewport_size(viewport)
        await save(page, f"admin-error-group-{width}", full_page=True)

    await page.set_viewport_size(WIDTHS["wide"])
    await page.goto("/admin/lobbies/lobby/")
    assert await fits_the_window(page)
    await assert_columns_in_view(page)
    await save(page, "admin-lobbies-wide")


async def test_the_protocol_page_fits_a_phone(open_page: Any) -> None:
    page = await open_page("reader", viewport=WIDTHS["phone"])
    await page.goto("/docs/protocol#error-codes")
    await page.locator("#error-codes").wait_for()
    assert await fits_the_window(page), "wide tables scroll inside the page, not the page"
    assert await page.evaluate("document.getElementById('error-codes').getBoundingClientRect().top < 100")
    # The error table's sentences keep a readable width (not squeezed to a word a line): it scrolls instead.
    narrowest = await page.evaluate(
        "(() => { const table = document.querySelectorAll('#error-codes ~ .table-scroll')[0].querySelector('table');"
        " const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());"
        " const meaning = heads.indexOf('meaning');"
        " return Math.min(...[...table.querySelectorAll('tbody tr')]"
        ".map((tr) => tr.children[meaning].getBoundingClientRect().width)); })()"
    )
    assert narrowest >= 200, f"the error table's meanings are {narrowest} px wide"
    await save(page, "protocol-phone")
