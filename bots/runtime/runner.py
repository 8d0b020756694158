"""One bot in its lobby: its socket, its peer connections, and its behaviour.

The bot speaks the same protocol as a browser: it opens the lobby WebSocket
with a token of its own session, sends ``join``, answers and makes offers as
``add_peer`` says, and tells its state with ``set_bot_state``. A socket that
drops is opened again with the same token and ``join`` resumes the same
participant (within the reconnect grace period; after it, the bot joins
afresh). ``run`` ends with why the bot stopped:

- ``FINISHED``: it left for good (the lobby emptied of people, closed, or
  someone removed the bot): the worker forgets it;
- ``LOST``: another worker's socket took over the session (4009);
- or it is cancelled (the worker stops, or its lease is gone): it closes
  its socket without ``leave``, so that another worker can resume it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import websockets
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bots.exceptions import BotUnavailableError
from bots.kinds.base import BotBehaviour
from bots.kinds.catalog import behaviour_class
from bots.runtime.audio import AudioMixer
from bots.runtime.peers import PeerLink, ice_servers_of
from bots.runtime.server import FINISHED, GONE_CODES, LOST, OPEN_TIMEOUT, REPLACED_CODE, bot_server, lobby_socket_url
from bots.runtime.state import BotStateKeeper
from bots.services import BotAssignment
from errors.boundary import report_error
from errors.exceptions import VoiceBotError
from lobbies.tokens import session_token_issue
from resilience.errors import DependencyUnavailableError

logger = logging.getLogger("voicebot.bots")

RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)
JOIN_NAME_TRIES = 5


class BotRunner:
    """Runs one bot; it is its behaviour's ``BotContext``."""

    def __init__(self, assignment: BotAssignment, *, server_url: str) -> None:
        self.assignment = assignment
        self.session_id = assignment.session_id
        self.lobby_id = assignment.lobby_id
        self.profile = assignment.profile
        self.url = lobby_socket_url(server_url, assignment.lobby_id, session_token_issue(session_id=self.session_id))
        self.audio = AudioMixer()
        self.participants: dict[str, dict[str, Any]] = {}
        self.links: dict[str, PeerLink] = {}
        self.ice_servers = ice_servers_of(settings.VOICEBOT_ICE_SERVERS)
        behaviour = behaviour_class(assignment.kind)
        if behaviour is None:
            raise BotUnavailableError(f"This worker cannot run bots of kind {assignment.kind}.")
        self.behaviour: BotBehaviour = behaviour(self)
        self.socket: Any = None
        self.joined = False
        self.name = assignment.name
        self.name_tries = 0
        self.state = BotStateKeeper(on_timeout=self.state_refresh)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.wait_hint = 0.0

    # --- The BotContext a behaviour uses --------------------------------------

    async def say(self, text: str, *, transcript_speaker: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "chat", "text": text}
        if transcript_speaker is not None:
            frame["transcript"] = {"speaker_session_id": transcript_speaker}
        await self.send(frame)

    def set_state(self, state: str) -> None:
        self.state.wanted = state
        self.state_refresh()

    async def mute(self, session_id: str) -> None:
        await self.send({"type": "set_muted", "muted": True, "peer_id": session_id})

    async def leave(self) -> None:
        logger.info("bot %s leaves lobby %s: its behaviour asked to", self.session_id[:8], self.lobby_id)
        # The server answers participant_left for the bot itself: the run ends FINISHED.
        await self.send({"type": "leave"})

    def report(self, exc: BaseException, where: str) -> None:
        error = exc if isinstance(exc, VoiceBotError) else BotUnavailableError(
            "A bot ran into a problem.", context={"exception": type(exc).__name__, "detail": str(exc)[:300]}
        )
        report_error(error, transport="internal", where=f"bot.{self.assignment.kind}.{where}",
                     lobby_id=self.lobby_id, session_id=self.session_id)

    # --- Running ------------------------------------------------------------

    @property
    def peer_count(self) -> int:
        return len(self.links)

    async def run(self) -> str:
        failures = 0
        try:
            while True:
                self.wait_hint = 0.0
                outcome = await self.connect_once()
                if outcome is not None:
                    return outcome
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                await asyncio.sleep(max(self.wait_hint, delay * (0.8 + 0.4 * random.random())))
        finally:
            await self.shutdown()

    async def connect_once(self) -> str | None:
        """One socket's life; its outcome, or None to open another."""
        code: int | None = None
        try:
            async with bot_server().attempt(timeout=OPEN_TIMEOUT):
                opened = await websockets.connect(self.url, open_timeout=None, max_size=2**20, close_timeout=2)
            async with opened as socket:
                self.socket = socket
                await self.send_join()
                async for text in socket:
                    outcome = await self.handle(json.loads(text))
                    if outcome is not None:
                        return outcome
            code = socket.close_code
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
        except DependencyUnavailableError as exc:
            # The worker's breaker for the server is open: wait as long as it says.
            self.wait_hint = exc.retry_after or 1.0
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
            logger.info("bot %s cannot reach the server: %s", self.session_id[:8], exc)
        finally:
            self.socket = None
            await self.links_close()
            self.joined = False
        if code in GONE_CODES:
            return FINISHED
        if code == REPLACED_CODE:
            return LOST
        return None

    async def shutdown(self) -> None:
        self.state.stop()
        await self.links_close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        try:
            await self.behaviour.stopped()
        except Exception as exc:  # noqa: BLE001 - stopping must finish
            self.report(exc, "stopped")

    async def links_close(self) -> None:
        links, self.links = list(self.links.values()), {}
        for link in links:
            await link.close()
            await self.hook(self.behaviour.peer_closed(link.peer_id), "peer_closed")

    async def send(self, frame: dict[str, Any]) -> None:
        if self.socket is not None:
            try:
                await self.socket.send(json.dumps(frame))
            except ConnectionClosed:
                pass

    async def send_join(self) -> None:
        await self.send({"type": "join", "id": "join", "name": self.name})

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def hook(self, call: Any, where: str) -> None:
        try:
            await call
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a behaviour's failure must not take the bot down
            self.report(exc, where)

    # --- State --------------------------------------------------------------

    def state_refresh(self) -> None:
        if not self.joined:
            return
        state = self.state.refresh((link.state for link in self.links.values()), self.links,
                                   self.participants.values())
        if state is not None:
            self.spawn(self.send({"type": "set_bot_state", "state": state}))

    # --- Frames -------------------------------------------------------------

    def humans(self) -> list[dict[str, Any]]:
        return [p for p in self.participants.values() if not p["is_bot"]]

    async def leave_for_good(self) -> str:
        logger.info("bot %s leaves lobby %s: no one is left in it", self.session_id[:8], self.lobby_id)
        await self.send({"type": "leave"})
        return FINISHED

    async def handle(self, frame: dict[str, Any]) -> str | None:
        kind = frame.get("type")
        if kind == "joined":
            return await self.on_joined(frame)
        if kind == "error":
            return await self.on_error(frame)
        if not self.joined:
            return None
        if kind == "add_peer":
            await self.on_add_peer(frame)
        elif kind == "remove_peer":
            link = self.links.pop(frame["peer_id"], None)
            if link is not None:
                await link.close()
                await self.hook(self.behaviour.peer_closed(link.peer_id), "peer_closed")
            self.state_refresh()
        elif kind in ("session_description", "ice_candidate"):
            link = self.links.get(frame.get("peer_id", ""))
            if link is not None:
                link.deliver("description" if kind == "session_description" else "candidate",
                             frame.get("description") or frame.get("candidate") or {})
        elif kind == "participant_joined":
            participant = frame["participant"]
            self.participants[participant["session_id"]] = participant
            await self.hook(self.behaviour.participant_joined(participant), "participant_joined")
        elif kind == "participant_updated":
            participant = frame["participant"]
            if participant["session_id"] != self.session_id:
                self.participants[participant["session_id"]] = participant
                await self.hook(self.behaviour.participant_updated(participant), "participant_updated")
        elif kind == "participant_left":
            return await self.on_left(frame)
        elif kind == "chat":
            await self.hook(self.behaviour.chat_received(frame), "chat_received")
        return None

    async def on_joined(self, frame: dict[str, Any]) -> str | None:
        await self.links_close()
        self.joined = True
        self.name = frame["self"]["name"]
        self.participants = {p["session_id"]: p for p in frame["participants"]}
        if not self.humans():
            return await self.leave_for_good()
        self.state.joined()
        self.state_refresh()
        logger.info("bot %s (%s) %s lobby %s", self.session_id[:8], self.assignment.kind,
                    "resumed its place in" if frame.get("resumed") else "joined", self.lobby_id)
        await self.hook(self.behaviour.started(), "started")
        return None

    async def on_error(self, frame: dict[str, Any]) -> str | None:
        code = frame.get("code")
        if frame.get("in_reply_to") != "join":
            logger.info("bot %s got %s: %s", self.session_id[:8], code, frame.get("message"))
            return None
        if code == "name_taken" and self.name_tries < JOIN_NAME_TRIES:
            self.name_tries += 1
            suffix = f" {self.name_tries + 1}"
            self.name = self.assignment.name[: 32 - len(suffix)] + suffix
            await self.send_join()
        elif frame.get("recovery") == "retry":
            await asyncio.sleep(float(frame.get("retry_after") or 1.0))
            await self.send_join()
        elif code != "already_joined":
            logger.warning("bot %s cannot join lobby %s: %s", self.session_id[:8], self.lobby_id, code)
            return FINISHED
        return None

    async def on_add_peer(self, frame: dict[str, Any]) -> None:
        peer_id = frame["peer_id"]
        old = self.links.pop(peer_id, None)
        if old is not None:
            await old.close()
        self.links[peer_id] = PeerLink(
            peer_id,
            polite=bool(frame.get("polite")),
            should_create_offer=bool(frame.get("should_create_offer")),
            mixer=self.audio,
            send_description=self.send_description,
            on_audio=self.behaviour.audio_received,
            on_state=self.on_link_state,
            report=self.report,
            ice_servers=self.ice_servers,
        )
        self.state_refresh()

    async def send_description(self, peer_id: str, description: dict[str, Any]) -> None:
        await self.send({"type": "relay_session_description", "peer_id": peer_id, "description": description})

    def on_link_state(self, link: PeerLink) -> None:
        self.state_refresh()
        if link.state == "connected":
            self.spawn(self.hook(self.behaviour.peer_connected(link.peer_id), "peer_connected"))

    async def on_left(self, frame: dict[str, Any]) -> str | None:
        session_id, reason = frame["session_id"], frame["reason"]
        if session_id == self.session_id:
            if reason == "timeout":
                # Its place ran out while the server thought it gone: join afresh.
                self.joined = False
                await self.send_join()
                return None
            return FINISHED  # removed from the lobby
        participant = self.participants.pop(session_id, None)
        await self.hook(self.behaviour.participant_left(session_id, reason, participant), "participant_left")
        if not self.humans():
            return await self.leave_for_good()
        self.state_refresh()
        return None
