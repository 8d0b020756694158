"""Driving the web client in the browser tests, as a person would, and reading its state.

Every wait has a deadline: a peer connection with no usable candidate stays
"new" forever rather than failing.
"""
from __future__ import annotations

import json
import urllib.request
from typing import Any

from web.tests.polling import DEADLINE, eventually


# Per live (not closed) RTCPeerConnection of the page: its state and the
# audio RTP packets it received so far.
PEER_STATS = """
async () => {
  const live = window.__voicebotTest.peerConnections.filter((pc) => pc.connectionState !== "closed");
  const result = [];
  for (const pc of live) {
    let packets = 0;
    (await pc.getStats()).forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "audio") {
        packets += report.packetsReceived || 0;
      }
    });
    result.push({ state: pc.connectionState, packets });
  }
  return result;
}
"""


async def create_lobby(page: Any, name: str, *, password: str = "", max_participants: int | None = None,
                       private: bool = False) -> str:
    """Creates a lobby from the home page; returns its id (the page is in its room then)."""
    await page.goto("/")
    await page.get_by_label("Name", exact=True).fill(name)
    if password:
        await page.get_by_label("Password (optional)").fill(password)
    if max_participants is not None:
        await page.get_by_label("Most people at once").fill(str(max_participants))
    if private:
        await page.get_by_label("Private", exact=True).check()
    await page.get_by_role("button", name="Create and join").click()
    await page.wait_for_url("**/lobby/*/")
    return page.url.rstrip("/").rsplit("/", 1)[1]


async def join(page: Any, name: str, *, password: str | None = None, lobby_id: str | None = None) -> None:
    """Opens the room (when ``lobby_id`` is given) and joins through its form, by keyboard."""
    if lobby_id is not None:
        await page.goto(f"/lobby/{lobby_id}/")
    await page.get_by_label("Your name").fill(name)
    if password is not None:
        await page.get_by_label("Lobby password").fill(password)
    await page.get_by_label("Your name").press("Enter")


async def wait_in_room(page: Any, people: int, *, deadline: float = DEADLINE) -> None:
    """Waits until the page shows the room with ``people`` participants and the server connection up."""
    await page.locator("#room").wait_for(state="visible", timeout=deadline * 1000)

    async def listed() -> bool:
        return await page.locator("#participants > li").count() == people

    await eventually(listed, deadline=deadline, what=f"{people} participants listed")
    await eventually(lambda: _text_is(page.locator("#connection-state"), "Connected"), deadline=deadline,
                     what="the connected state")


async def _text_is(locator: Any, expected: str) -> bool:
    return (await locator.text_content() or "").strip() == expected


async def peer_stats(page: Any) -> list[dict[str, Any]]:
    return await page.evaluate(PEER_STATS)


async def wait_audio_flowing(pages: list[Any], *, peers: int, deadline: float = DEADLINE) -> list[list[dict[str, Any]]]:
    """Waits until each page has ``peers`` connected peer connections whose received packets grow."""

    async def connected() -> list[list[dict[str, Any]]] | None:
        stats = [await peer_stats(page) for page in pages]
        ok = all(len(s) == peers and all(p["state"] == "connected" for p in s) for s in stats)
        return stats if ok else None

    before = await eventually(connected, deadline=deadline, what=f"{peers} connected peer connection(s) per page")

    async def growing() -> list[list[dict[str, Any]]] | None:
        now = await connected()
        if now is None:
            return None
        ok = all(
            all(n["packets"] > b["packets"] for n, b in zip(now_page, before_page, strict=True))
            for now_page, before_page in zip(now, before, strict=True)
        )
        return now if ok else None

    return await eventually(growing, deadline=deadline, what="inbound audio packets growing on every connection")


def participant(page: Any, name: str) -> Any:
    return page.locator("#participants > li", has=page.locator(".name", has_text=name))


def api_post(base_url: str, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{base_url}{path}", data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
