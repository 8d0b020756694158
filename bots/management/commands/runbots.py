"""Run a bot worker: it takes bots added to lobbies and runs them (manage.py runbots)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bots.worker.process import worker_run


class Command(BaseCommand):
    help = ("Run a bot worker process: it joins bots to their lobbies over the server's WebSocket "
            "(VOICEBOT_BOT_SERVER_URL) and shares the bots with the other workers of the database.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--capacity", type=int, default=settings.VOICEBOT_BOT_WORKER_CAPACITY,
                            help="Bots this worker runs at once (default: VOICEBOT_BOT_WORKER_CAPACITY).")
        parser.add_argument("--server-url", default=settings.VOICEBOT_BOT_SERVER_URL,
                            help="The server whose lobbies the bots join (default: VOICEBOT_BOT_SERVER_URL).")
        parser.add_argument("--parent-pid", type=int, default=0,
                            help="Stop (handing the bots back) once this process is gone (manage.py serve sets it).")

    def handle(self, *args: Any, capacity: int, server_url: str, parent_pid: int, **options: Any) -> None:
        if capacity < 1:
            raise CommandError("--capacity must be 1 or more.")
        if not server_url.startswith(("http://", "https://", "ws://", "wss://")):
            raise CommandError(f"--server-url must be an http(s) or ws(s) URL; got {server_url!r}.")
        worker_run(capacity=capacity, server_url=server_url, parent_pid=parent_pid or None)
