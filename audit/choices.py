"""The kinds of security events, in one place."""
from django.db import models


class AuditKind(models.TextChoices):
    STAFF_LOGIN = "staff_login", "staff login"
    STAFF_LOGIN_FAILED = "staff_login_failed", "failed staff login"
    ADMIN_ADDITION = "admin_addition", "admin: added"
    ADMIN_CHANGE = "admin_change", "admin: changed"
    ADMIN_DELETION = "admin_deletion", "admin: deleted"
    ADMIN_ACTION = "admin_action", "admin: action"
    PARTICIPANT_KICKED = "participant_kicked", "participant kicked"
    LOBBY_LOCKED = "lobby_locked", "lobby locked or unlocked"
    LOBBY_CLOSED = "lobby_closed", "lobby closed"
    TOKEN_REJECTED = "token_rejected", "token rejected"
    RATE_LIMIT_CLOSE = "rate_limit_close", "socket closed for excess (4008)"
    PASSWORD_RATE_LIMITED = "password_rate_limited", "wrong passwords rate limited"
    KICKED_REJOIN_REFUSED = "kicked_rejoin_refused", "kicked participant's rejoin refused"
    ORIGIN_REFUSED = "origin_refused", "browser origin refused"
