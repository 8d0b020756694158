"""What the error commands say when the database cannot answer."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError
from django.db import DatabaseError


@contextmanager
def database_errors_as_command_error() -> Iterator[None]:
    """A database failure becomes a one-line CommandError (exit 1), not a traceback."""
    try:
        yield
    except DatabaseError as exc:
        raise CommandError(
            f"The database could not be read ({type(exc).__name__}: {str(exc).strip().splitlines()[0]}). "
            "Check DATABASE_URL, that the server is up, and that `manage.py migrate` has run."
        ) from exc
