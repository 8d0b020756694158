"""The vocabulary every error speaks: categories, severities, recovery actions."""
from django.db import models


class Category(models.TextChoices):
    WEBSOCKET = "websocket"
    WEBRTC = "webrtc"
    SESSION = "session"
    LOBBY = "lobby"
    AUTH = "auth"
    PERSISTENCE = "persistence"
    NETWORK = "network"
    VALIDATION = "validation"
    SYSTEM = "system"
    BOT = "bot"


class Severity(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Recovery(models.TextChoices):
    NONE = "none", "Fix the request"
    RETRY = "retry", "Retry after retry_after seconds"
    REJOIN = "rejoin", "Send join again"
    RECONNECT = "reconnect", "Open a new socket with the same token"
    REAUTHENTICATE = "reauthenticate", "Get a new token"


class GroupStatus(models.TextChoices):
    """Where staff stand on an error group (the Sentry/GlitchTip triage states)."""

    UNRESOLVED = "unresolved"
    RESOLVED = "resolved"
    IGNORED = "ignored"


def severities_at_least(severity: str) -> list[str]:
    """The severities ranked at or above ``severity`` (e.g. high -> [high, critical])."""
    floor = SEVERITY_RANK[Severity(severity)]
    return [str(s) for s, rank in SEVERITY_RANK.items() if rank >= floor]
