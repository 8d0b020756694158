"""Serve the ASGI application with daphne or uvicorn, keeping tokens out of the access log."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ops.metrics import MULTIPROCESS_DIR, multiprocess_dir_prepare
from voicebot_site.startup import serving_settings_check

SERVERS = ("daphne", "uvicorn")
# Frames over 64 KiB are answered with message_too_large; the server closes
# the socket (1009) only past this hard ceiling.
MAX_WEBSOCKET_MESSAGE = 1024 * 1024


class Command(BaseCommand):
    help = (
        "Serve HTTP and WebSockets with daphne or uvicorn (access log through logging, tokens scrubbed). "
        "VOICEBOT_SERVER sets the default server."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--server", choices=SERVERS, default=os.environ.get("VOICEBOT_SERVER") or "uvicorn",
                            help="The ASGI server (default: $VOICEBOT_SERVER, else uvicorn; see BENCHMARKS.md).")
        parser.add_argument("--workers", type=int, default=1,
                            help="uvicorn only: server processes on the one port (more than one needs REDIS_URL).")
        parser.add_argument("--no-access-log", action="store_true", help="Do not log each request.")
        parser.add_argument("--bot-workers", type=int, default=settings.VOICEBOT_BOT_WORKERS,
                            help="Bot worker processes (manage.py runbots) to run beside the server, joining "
                                 "its lobbies on this host and port (default: VOICEBOT_BOT_WORKERS; 0 for none).")

    def handle(self, *args: Any, host: str, port: int, server: str, workers: int, no_access_log: bool,
               bot_workers: int, **options: Any) -> None:
        try:
            serving_settings_check()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if server not in SERVERS:
            raise CommandError(f"VOICEBOT_SERVER must be one of {', '.join(SERVERS)}; got {server!r}.")
        if workers < 1:
            raise CommandError("--workers must be 1 or more.")
        if workers > 1 and server != "uvicorn":
            raise CommandError("--workers needs --server uvicorn (daphne runs one process).")
        if workers > 1 and not settings.REDIS_URL:
            raise CommandError(
                "--workers above 1 needs REDIS_URL: processes share lobbies only through the Redis channel layer."
            )
        if workers > 1:
            # One /metrics for all the workers (prometheus_client multiprocess mode).
            multiprocess_dir_prepare(Path(os.environ.get(MULTIPROCESS_DIR) or settings.VAR_DIR / "metrics"))
        if bot_workers < 0:
            raise CommandError("--bot-workers must be 0 or more.")
        self.stdout.write(f"VoiceBot serving on http://{host}:{port}/ ({server}, {bot_workers} bot workers)")
        self.stdout.flush()
        with bot_worker_processes(bot_workers, server_url=f"http://{local_address(host)}:{port}"):
            if server == "uvicorn":
                serve_uvicorn(host=host, port=port, workers=workers, access_log=not no_access_log)
            else:
                serve_daphne(host=host, port=port, access_log=not no_access_log)


def local_address(host: str) -> str:
    """Where a process on this machine reaches a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@contextmanager
def bot_worker_processes(count: int, *, server_url: str) -> Iterator[None]:
    """``count`` children running ``manage.py runbots`` against this server, stopped with it.

    They share the server's process group (a Ctrl-C or a group signal reaches
    them too) and each stops by itself if this process dies.
    """
    manage = os.path.join(settings.BASE_DIR, "manage.py")
    children = [
        subprocess.Popen([sys.executable, manage, "runbots", "--server-url", server_url,
                          "--parent-pid", str(os.getpid())])
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


def serve_daphne(*, host: str, port: int, access_log: bool) -> None:
    # daphne.server installs Twisted's asyncio reactor on import; import it first.
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server

    from ops.access_log import ScrubbedAccessLog
    from voicebot_site.asgi import application

    Server(
        application=application,
        endpoints=build_endpoint_description_strings(host=host, port=port),
        action_logger=ScrubbedAccessLog() if access_log else None,
        websocket_max_message_size=MAX_WEBSOCKET_MESSAGE,
        websocket_max_frame_size=MAX_WEBSOCKET_MESSAGE,
        application_close_timeout=10,
    ).run()


def serve_uvicorn(*, host: str, port: int, workers: int, access_log: bool) -> None:
    import uvicorn

    # log_config=None and log_level=None leave logging as settings.LOGGING
    # has it: uvicorn's loggers pass through the scrub_secrets filter.
    uvicorn.run(
        "voicebot_site.asgi:application",
        host=host,
        port=port,
        workers=workers,
        lifespan="on",  # shutdown work: see ops.lifespan
        ws="websockets-sansio",
        ws_max_size=MAX_WEBSOCKET_MESSAGE,
        ws_per_message_deflate=False,
        log_config=None,
        log_level=None,
        access_log=access_log,
        # Forwarded headers are believed only from VOICEBOT_TRUSTED_PROXIES,
        # by the application (voicebot_site.asgi); uvicorn's own default
        # believes them from 127.0.0.1, which any local client can abuse.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
