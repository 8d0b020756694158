"""Fixtures and helpers of the assistant's tests: scripted language-model servers, routers over them, reports.

Test modules import the fixtures they use from here (pytest finds a fixture
in the module's namespace).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from bots.assistant.llm.config import LLMProviderConfig
from bots.assistant.llm.router import LLMRouter, provider_for
from bots.assistant.tools import ParticipantView
from errors.boundary import report_error

from .llm_server import LLMServer

KEY = "sk-test-llm-4c1b9e2d7f6a58b3c0d1e2f3a4b5c6d7"
KEY_ENV = "VOICEBOT_TEST_LLM_KEY"


@pytest.fixture
def llm_servers() -> Iterator[Callable[[], LLMServer]]:
    """Starts scripted servers on demand; every one is stopped at teardown."""
    started: list[LLMServer] = []

    def start() -> LLMServer:
        server = LLMServer().start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def key_in_environment(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The key is set, every logger records at DEBUG, and no record may hold the key."""
    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx2", "httpcore2", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    assert KEY not in caplog.text
    assert all(KEY not in str(record.__dict__) for record in caplog.records)


@dataclass
class Reports:
    """What a router or an answer reported, each also handed to the real error boundary (stored)."""

    errors: list[BaseException] = field(default_factory=list)
    correlation_ids: list[str] = field(default_factory=list)

    def __call__(self, exc: BaseException) -> None:
        self.errors.append(exc)
        _, report = report_error(exc, transport="internal", where="bot.assistant", lobby_id="lobby-test",
                                 session_id="bot-session")
        self.correlation_ids.append(report.correlation_id)

    def codes(self) -> list[str]:
        return [getattr(error, "code", type(error).__name__) for error in self.errors]


@pytest.fixture
def reports(transactional_db: None) -> Reports:
    """Reports stored through the real recorder (the test may read them back with errors.testing)."""
    return Reports()


def config(server: LLMServer, name: str, *, key_env: str = KEY_ENV, model: str = "test-model") -> LLMProviderConfig:
    return LLMProviderConfig(name=name, base_url=server.base_url, model=model, api_key_env=key_env)


def router(servers: Sequence[tuple[LLMServer, str]], *, reports: Reports | None = None,
           first_token_timeout: float = 1.0, chunk_timeout: float = 1.0, attempts: int = 1) -> LLMRouter:
    return LLMRouter([provider_for(config(server, name)) for server, name in servers],
                     first_token_timeout=first_token_timeout, chunk_timeout=chunk_timeout, attempts=attempts,
                     report=reports)


@dataclass
class LobbyHost:
    """The bot's side of the tools, as the platform gives it: who is there, mute, leave (recorded)."""

    people: list[ParticipantView]
    muted: list[str] = field(default_factory=list)
    left: bool = False
    fail: bool = False

    def participants(self) -> list[ParticipantView]:
        return list(self.people)

    async def mute(self, session_id: str) -> None:
        if self.fail:
            raise ConnectionResetError("the lobby socket went away")
        self.muted.append(session_id)

    async def leave(self) -> None:
        if self.fail:
            raise ConnectionResetError("the lobby socket went away")
        self.left = True
