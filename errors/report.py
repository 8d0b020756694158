"""What the error boundaries hand to the recorder: one report per error."""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from errors.exceptions import VoiceBotError

Transport = Literal["websocket", "http", "internal"]


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and
# a report is made for every error, bad frames included (its __init__ is 96
# bytecodes frozen, 45 not, of a bad frame's 1,770 counted by a trace of
# ``bench.inprocess --bad``). Nothing changes a report once made; listeners
# are told so (errors.boundary).
@dataclass(slots=True)
class ErrorReport:
    error: VoiceBotError
    correlation_id: str
    transport: Transport
    # Where it was raised: a message type ("relay_ice_candidate"), a view
    # name or a path. Part of the grouping fingerprint, so never variable text.
    where: str
    occurred_at: datetime
    lobby_id: str | None = None
    session_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    # The client's address, for listeners (the audit log); never stored with the error.
    address: str | None = None
    # The original exception when it was not a VoiceBotError.
    cause: BaseException | None = None

    @property
    def traceback_text(self) -> str:
        if self.cause is None:
            return ""
        return "".join(traceback.format_exception(self.cause))
