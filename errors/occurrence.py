"""One error occurrence as the recorder keeps it until it is stored.

An ``Occurrence`` is plain data (no exception objects, no frames), made
once on the thread that reported the error, so that it can wait in memory,
spill to a file as one JSON line and come back unchanged.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from errors.grouping import report_fingerprint, report_title
from errors.report import ErrorReport
from errors.scrubbing import context_scrub, cut, text_scrub

HOST = socket.gethostname()[:255]
# ErrorEvent.path's column.
PATH_MAX_LENGTH = 400
# The key, in a weighted event's context, of the correlation ids of the occurrences it stands for.
FOLDED_IDS = "folded_correlation_ids"


@dataclass(frozen=True, slots=True)
class Occurrence:
    fingerprint: str
    code: str
    category: str
    severity: str
    title: str
    where: str
    transport: str
    occurred_at: datetime
    correlation_id: str
    message: str
    path: str = ""
    lobby_id: str = ""
    session_id: str = ""
    context: dict[str, Any] | None = None
    traceback: str = ""
    host: str = HOST
    pid: int | None = None
    # Occurrences this one stands for (see ErrorEvent.weight).
    weight: int = 1

    def with_folded(self, weight: int, correlation_ids: list[str]) -> Occurrence:
        """This occurrence standing for ``weight`` of its group, whose correlation ids (some or all) are given."""
        return replace(self, weight=weight, context={**(self.context or {}), FOLDED_IDS: correlation_ids})

    def to_line(self) -> str:
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return json.dumps(data, separators=(",", ":"), default=str)

    @classmethod
    def from_line(cls, line: str) -> Occurrence:
        data = json.loads(line)
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
        return cls(**data)


def occurrence_from_report(report: ErrorReport) -> Occurrence:
    error = report.error
    context = context_scrub(report.context or {})
    path = context.get("path", "") if isinstance(context, dict) else ""
    return Occurrence(
        fingerprint=report_fingerprint(report),
        code=error.code,
        category=str(error.category),
        severity=str(error.severity),
        title=report_title(report),
        where=report.where[:200],
        transport=report.transport,
        occurred_at=report.occurred_at,
        correlation_id=report.correlation_id,
        message=text_scrub(error.user_message),
        path=cut(str(path), PATH_MAX_LENGTH) if path else "",
        lobby_id=(report.lobby_id or "")[:32],
        session_id=(report.session_id or "")[:32],
        context=context,
        traceback=text_scrub(report.traceback_text),
        pid=os.getpid(),
    )
