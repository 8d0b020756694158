"""The ASGI lifespan protocol: the process's shutdown work, run while the server stops.

uvicorn ends a process stopped by SIGTERM by raising the signal again once its
graceful shutdown is over, so the interpreter dies of it without running
``atexit``. The lifespan shutdown event is the last moment code runs there:
the error recorder stores (or spills) what waits then, and the process's
live gauges leave the multiprocess metrics. daphne sends no
lifespan events; it exits normally and ``atexit`` does the same work.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from audit.recorder import audit_recorder_close
from errors.recorder import recorder_close
from ops.metrics import process_exit_mark

logger = logging.getLogger(__name__)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await asyncio.to_thread(recorder_close)
                await asyncio.to_thread(audit_recorder_close)
                process_exit_mark()
            except Exception:  # noqa: BLE001 - the server must still finish stopping
                logger.exception("shutdown work failed")
            await send({"type": "lifespan.shutdown.complete"})
            return
