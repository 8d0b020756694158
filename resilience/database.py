"""The database as a guarded dependency, and ``db_call`` for async code.

A failure of the database reaches the client as ``service_unavailable``
(category ``persistence``, ``recovery: "retry"``, a ``retry_after``), never as
a traceback. What is retried: a failure to *connect*, where nothing of the
call ran yet. A failure once the call is running is not retried (the function
may not be one transaction, and a lost COMMIT is ambiguous): the client is
told to retry instead. An error the database answered with (a constraint,
a typed error raised by the service) is the caller's, and proves the
database up.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial, wraps
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections

from errors.exceptions import DatabaseUnavailableError
from resilience.failures import DATABASE_ERRORS
from resilience.guard import Dependency, Outcome
from resilience.registry import dependency

P = ParamSpec("P")
R = TypeVar("R")

DATABASE = "database"


class ConnectFailedError(Exception):
    """The database could not be reached before the call ran (safe to retry)."""


def _classify(exc: BaseException) -> Outcome:
    if isinstance(exc, (ConnectFailedError, *DATABASE_ERRORS)):
        return Outcome.FAILURE
    return Outcome.CALLER_ERROR


def _unavailable(made: Dependency, cause: BaseException | None) -> DatabaseUnavailableError:
    if isinstance(cause, ConnectFailedError) and cause.__cause__ is not None:
        cause = cause.__cause__
    context = {"breaker": made.breaker.state}
    if cause is not None:
        context["exception"] = type(cause).__name__
    error = DatabaseUnavailableError(retry_after=made.retry_after(), context=context)
    error.__cause__ = cause
    return error


@cache
def database() -> Dependency:
    """This process's database dependency."""
    return dependency(DATABASE, classify=_classify, unavailable=_unavailable)


def database_unavailable(cause: BaseException | None = None) -> BaseException:
    """The typed error for a database failure (``cause``) or a refused call."""
    return database().unavailable_error(cause)


def _connect_failed(exc: BaseException) -> bool:
    return isinstance(exc, ConnectFailedError)


# The thread of db_call_apart: one, with a database connection of its own.
_apart_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicebot-db-apart")


def _guarded(fn: Callable[P, R], *, apart: bool) -> Callable[P, Awaitable[R]]:
    def connected_call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            connections[DEFAULT_DB_ALIAS].ensure_connection()
        except DATABASE_ERRORS as exc:
            raise ConnectFailedError() from exc
        return fn(*args, **kwargs)

    if apart:
        run = database_sync_to_async(connected_call, thread_sensitive=False, executor=_apart_executor)
    else:
        run = database_sync_to_async(connected_call)

    @wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return await database().call(partial(run, *args, **kwargs), retry=_connect_failed)

    return call


@cache
def db_call(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``database_sync_to_async`` through the database's guard, retrying failed connects.

    Callers write ``await db_call(service)(...)``: the wrapper of each function
    is built once (cached), not at every call. Every call runs on the one
    database thread of the process, in the order they were made.
    """
    return _guarded(fn, apart=False)


@cache
def db_call_apart(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``db_call`` on a thread and connection of its own, not queued behind the database thread's calls.

    For the few short statements that must not wait for a queue of joins (the
    process's heartbeat): its own transactions, the same guard.
    """
    return _guarded(fn, apart=True)
