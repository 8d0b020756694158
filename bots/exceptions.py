"""Errors of bots: adding one to a lobby, and the workers that run them."""
from errors.choices import Recovery, Severity
from errors.exceptions import BotError


class BotUnavailableError(BotError):
    code = "bot_unavailable"
    message = "That kind of bot cannot join right now. Try again in a moment."
    recovery = Recovery.RETRY
    http_status = 503
    retry_after = 10.0


class BotLimitReachedError(BotError):
    code = "bot_limit_reached"
    message = "This lobby already has as many bots as it may have. Remove one first."
    severity = Severity.LOW
    http_status = 409
