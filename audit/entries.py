"""One security event as the recorder keeps it until it is stored: plain data."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    kind: str
    occurred_at: datetime
    correlation_id: str
    actor: str = ""
    user_id: int | None = None
    session_id: str = ""
    address: str = ""
    lobby_id: str = ""
    target: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    count: int = 1
