"""What a failure of each of the server's own dependencies looks like."""
from __future__ import annotations

import asyncio

import redis.exceptions
from channels.exceptions import ChannelFull
from django.db import InterfaceError, OperationalError

# The database is unreachable or broke off the call.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
# The channel layer (Redis) is unreachable, slow or refused the call. ChannelFull
# is here for callers that catch what a send may raise; for the breaker it is
# one receiver's backlog, not an outage (see resilience.channel_layer).
LAYER_ERRORS: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, redis.exceptions.RedisError, ChannelFull,
)
