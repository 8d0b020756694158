"""docs/protocol.md against the code: every error code, its attributes, and the close codes."""
from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from errors.exceptions import ERROR_CODES, VoiceBotError

DOCS = Path(settings.BASE_DIR) / "docs" / "protocol.md"
# The shared wire-protocol specification, beside the checkout when it is there.
SPEC = Path(settings.BASE_DIR).parent / "shared" / "PROTOCOL.md"

# The codes the wire protocol (v1) requires the server to have.
PROTOCOL_CODES = {
    "invalid_json", "invalid_message", "unknown_message_type", "message_too_large", "not_joined",
    "already_joined", "lobby_not_found", "lobby_full", "invalid_lobby_password", "name_taken",
    "invalid_name", "peer_not_found", "invalid_session_description", "invalid_ice_candidate",
    "rate_limited", "unauthenticated", "forbidden", "kicked", "policy_violation", "session_replaced",
    "service_unavailable", "internal_error", "bot_unavailable", "bot_limit_reached",
}
# The codes the HTTP API adds.
HTTP_CODES = {"not_found", "method_not_allowed"}
# Codes that are only stored (category bot), never sent to a client.
STORED_CODES = {"bot_provider_error", "bot_tool_refused"}
# The codes this server adds to the protocol's (each documented in protocol.md).
PROJECT_CODES = {"lobby_locked"}
# The protocol's close codes and the error code each follows.
PROTOCOL_CLOSE_CODES = {4001: "unauthenticated", 4003: "kicked", 4004: "lobby_not_found",
                        4008: "policy_violation", 4009: "session_replaced", 4011: "internal_error"}
NO_CLOSE = "—"
# Error classes that live in a package of an app rather than in its exceptions module.
EXCEPTION_MODULES = ("bots.speech.exceptions", "bots.assistant.exceptions")


@dataclass(frozen=True)
class Variant:
    """What a client is told about one kind of error."""

    code: str
    http_status: int
    category: str
    severity: str
    recovery: str
    close_code: int | None


def registered_variants() -> set[Variant]:
    """Every variant of every registered code, with each app's exceptions module imported.

    A subclass that keeps its parent's code but changes what the client is
    told (``FatalConnectionError``) is a variant of that code.
    """
    for app in apps.get_app_configs():
        if importlib.util.find_spec(f"{app.name}.exceptions") is not None:
            importlib.import_module(f"{app.name}.exceptions")
    for module in EXCEPTION_MODULES:
        importlib.import_module(module)
    classes: set[type[VoiceBotError]] = set()
    pending = [cls for registered in ERROR_CODES.values() for cls in registered]
    while pending:
        cls = pending.pop()
        if cls not in classes:
            classes.add(cls)
            pending.extend(sub for sub in cls.__subclasses__() if sub.code == cls.code)
    return {
        Variant(cls.code, cls.http_status, str(cls.category), str(cls.severity), str(cls.recovery), cls.close_code)
        for cls in classes
    }


def markdown_table(text: str, header_start: str) -> list[list[str]]:
    """The body rows of the first table whose header row starts with ``header_start``."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(header_start):
            rows = []
            for row in lines[index + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table starting with {header_start!r} in {DOCS.name}")


def code_cell(cell: str) -> str:
    match = re.fullmatch(r"`([a-z_]+)`", cell)
    assert match, f"a code cell must be one code in backticks: {cell!r}"
    return match.group(1)


def documented_variants(text: str) -> list[Variant]:
    variants = []
    for cells in markdown_table(text, "| code | HTTP | category | severity | recovery | close |"):
        code, http_status, category, severity, recovery, close = cells[:6]
        variants.append(Variant(code_cell(code), int(http_status), category, severity, recovery,
                                None if close == NO_CLOSE else int(close)))
    return variants


def documented_close_codes(text: str) -> dict[int, str]:
    rows = markdown_table(text, "| close | error code | meaning |")
    return {int(close): code_cell(code) for close, code, *_ in rows}


@pytest.fixture(scope="module")
def docs_text() -> str:
    return DOCS.read_text(encoding="utf-8")


def test_every_code_the_protocol_requires_is_registered() -> None:
    registered = {variant.code for variant in registered_variants()}

    assert PROTOCOL_CODES - registered == set()


def test_the_required_codes_are_those_of_the_protocol_specification() -> None:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not beside this checkout")
    spec = SPEC.read_text(encoding="utf-8")
    at_least = spec[spec.index("At least:"):spec.index("- `category`")]

    assert set(re.findall(r"`([a-z_]+)`", at_least)) == PROTOCOL_CODES


def test_only_the_protocols_and_the_http_apis_codes_are_registered() -> None:
    registered = {variant.code for variant in registered_variants()}

    assert registered - PROTOCOL_CODES - HTTP_CODES - STORED_CODES - PROJECT_CODES == set(), (
        "document the new code and add it here")


def test_every_registered_variant_is_in_the_docs_table(docs_text: str) -> None:
    documented = set(documented_variants(docs_text))

    missing = registered_variants() - documented
    assert missing == set(), f"add these rows to the error table of {DOCS.name}: {sorted(missing, key=str)}"


def test_every_row_of_the_docs_table_is_what_the_server_sends(docs_text: str) -> None:
    registered = registered_variants()

    wrong = [variant for variant in documented_variants(docs_text) if variant not in registered]
    assert wrong == [], f"these rows of {DOCS.name} differ from the code: {wrong}"


def test_the_docs_table_has_no_row_twice(docs_text: str) -> None:
    documented = documented_variants(docs_text)

    assert len(documented) == len(set(documented))


def test_the_close_code_table_matches_the_errors_that_close(docs_text: str) -> None:
    closing = {variant.close_code: variant.code for variant in registered_variants() if variant.close_code}

    assert documented_close_codes(docs_text) == closing == PROTOCOL_CLOSE_CODES


@pytest.mark.parametrize(
    "name",
    ["VOICEBOT_RECONNECT_GRACE", "VOICEBOT_TOKEN_MAX_AGE", "VOICEBOT_FRAME_RATE", "VOICEBOT_CHAT_RATE",
     "VOICEBOT_SESSION_RATE", "VOICEBOT_BAD_FRAME_LIMIT", "VOICEBOT_HEARTBEAT_INTERVAL",
     "VOICEBOT_PRESENCE_SWEEP_INTERVAL", "VOICEBOT_LOBBY_RATE", "VOICEBOT_LOBBY_ADDRESS_RATE",
     "VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER", "VOICEBOT_CLOSED_LOBBY_CHAT_RETENTION"],
)
def test_the_docs_name_each_setting_a_client_meets(docs_text: str, name: str) -> None:
    assert f"`{name}`" in docs_text


def test_the_docs_state_the_limits_of_the_code(docs_text: str) -> None:
    from lobbies.models import (
        CHAT_HISTORY_LENGTH,
        CHAT_TEXT_MAX_LENGTH,
        DEFAULT_MAX_PARTICIPANTS,
        LOBBY_DESCRIPTION_MAX_LENGTH,
        LOBBY_NAME_MAX_LENGTH,
        MAX_PARTICIPANTS,
        MIN_PARTICIPANTS,
        NAME_MAX_LENGTH,
    )
    from lobbies.seats import SEAT_HOLD_SECONDS
    from lobbies.selectors import LOBBY_PAGE_DEFAULT_SIZE, LOBBY_PAGE_MAX_SIZE
    from lobbies.services import PASSWORD_MAX_LENGTH
    from lobbies.validation import LOBBY_SEARCH_MAX_LENGTH

    limits = {row[0]: row[1] for row in markdown_table(docs_text, "| what | limit | past it |")}

    assert limits["participant name"] == f"1 to {NAME_MAX_LENGTH} characters after trimming"
    assert limits["lobby name"] == f"1 to {LOBBY_NAME_MAX_LENGTH} characters after trimming"
    assert limits["lobby password"] == f"{PASSWORD_MAX_LENGTH} characters"
    assert limits["seats in a lobby (`max_participants`)"] == (
        f"{MIN_PARTICIPANTS} to {MAX_PARTICIPANTS}, default {DEFAULT_MAX_PARTICIPANTS}"
    )
    assert limits["chat text"] == f"1 to {CHAT_TEXT_MAX_LENGTH} characters"
    assert limits["chat history"] == f"the newest {CHAT_HISTORY_LENGTH} messages of each lobby"
    assert limits["lobby description"] == f"{LOBBY_DESCRIPTION_MAX_LENGTH} characters after trimming, one line"
    assert limits["lobby list search (`q`)"] == f"{LOBBY_SEARCH_MAX_LENGTH} characters after trimming"
    assert limits["lobby list page (`per_page`)"] == (
        f"1 to {LOBBY_PAGE_MAX_SIZE} lobbies, default {LOBBY_PAGE_DEFAULT_SIZE}"
    )
    assert limits["a seat held for the first in line"] == f"{SEAT_HOLD_SECONDS:.0f} seconds"
    assert limits["lobbies per session"] == (
        f"`VOICEBOT_LOBBY_RATE`, default {settings.VOICEBOT_LOBBY_RATE.replace('/', ' in any ')}"
    )
    assert limits["an empty lobby"] == (
        "closes after `VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER`, "
        f"default {settings.VOICEBOT_EMPTY_LOBBY_CLOSE_AFTER:.0f} seconds"
    )
    assert settings.VOICEBOT_MAX_FRAME_BYTES == 64 * 1024
    assert limits["a WebSocket frame, an HTTP request body"] == "64 KiB (UTF-8 bytes)"
