"""Run the ASGI application under daphne, with a scrubbed access log."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve HTTP and WebSockets with daphne (access log through logging, tokens scrubbed)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-access-log", action="store_true", help="Do not log each request.")

    def handle(self, *args: Any, host: str, port: int, no_access_log: bool, **options: Any) -> None:
        # daphne.server installs Twisted's asyncio reactor on import; import it first.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from ops.access_log import ScrubbedAccessLog
        from voicebot_site.asgi import application

        self.stdout.write(f"VoiceBot serving on http://{host}:{port}/ (daphne)")
        self.stdout.flush()
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            action_logger=None if no_access_log else ScrubbedAccessLog(),
            # Frames over 64 KiB are answered with message_too_large; daphne
            # closes the socket (1009) only past this hard ceiling.
            websocket_max_message_size=1024 * 1024,
            websocket_max_frame_size=1024 * 1024,
            application_close_timeout=10,
        ).run()
