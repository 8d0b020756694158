import sqlite3

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

# lobbies.hot_sql's statements use RETURNING, which SQLite has since 3.35.
SQLITE_MIN_VERSION = (3, 35, 0)


class LobbiesConfig(AppConfig):
    name = "lobbies"
    verbose_name = "Lobbies"

    def ready(self) -> None:
        if connections["default"].vendor == "sqlite" and sqlite3.sqlite_version_info < SQLITE_MIN_VERSION:
            raise ImproperlyConfigured(
                f"SQLite {sqlite3.sqlite_version} is too old: VoiceBot needs SQLite "
                f"{'.'.join(map(str, SQLITE_MIN_VERSION))} or newer (or set DATABASE_URL to a Postgres database)."
            )
