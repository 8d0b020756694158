"""A real OpenAI-compatible chat server on a loopback port, answering what a test scripts.

``POST /v1/chat/completions`` takes the next scripted ``Reply`` (or the
server's ``default``): streamed as server-sent events when the request asks
for ``stream``, else one JSON answer. A reply can be text (streamed a few
characters a chunk), tool calls (their arguments streamed in pieces), an
HTTP status with an error body, a hang before any byte, a stall or a cut
after some chunks, an endless stream, raw garbage, or chunks that are not
the shape of one. Every request is kept (path, headers, JSON body) with
what became of it: how many chunks went out and whether the client went
away before the end (a cancelled answer).

aiohttp serves it on an event loop of its own, in a thread, so that a test's
loop and the server's never wait for each other.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class Reply:
    text: str = ""
    # Characters per streamed chunk.
    piece_chars: int = 4
    # [{"name": str, "arguments": str (raw, may be invalid), "id"?: str}], arguments streamed in pieces.
    tool_calls: tuple[dict[str, str], ...] = ()
    status: int = 200
    # Seconds before the first chunk (after the headers), and between chunks.
    first_token_delay: float = 0.0
    piece_delay: float = 0.0
    # Never answer (no status line) until the client goes away or the server stops.
    hang: bool = False
    # After this many chunks: stall (stay open, send nothing) or cut (close without a finish).
    stall_after: int | None = None
    cut_after: int | None = None
    # Stream words without end, until the client goes away.
    endless: bool = False
    # Sent as the body instead of an answer (with this content type).
    raw: bytes | None = None
    raw_content_type: str = "text/event-stream"
    # Each sent as one "data:" event, verbatim, instead of the text's chunks.
    events: tuple[str, ...] = ()
    finish_reason: str | None = None


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]
    received_at: float
    chunks_sent: int = 0
    # The client closed the connection before the answer ended.
    disconnected: bool = False
    finished: bool = False
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    def text_of(self, role: str) -> str:
        return "\n".join(str(m.get("content")) for m in self.messages if m.get("role") == role)


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n".encode()


def _pieces(text: str, size: int) -> list[str]:
    return [text[start:start + size] for start in range(0, len(text), max(1, size))]


class LLMServer:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(status=500, raw=b'{"error": {"message": "not scripted"}}',
                                        raw_content_type="application/json")
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="llm-server", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    # --- Life -----------------------------------------------------------

    def start(self) -> LLMServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test LLM server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(CHAT, self._chat)
        # handler_cancellation: a client that goes away cancels its handler (a cancelled answer).
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stopping.wait()
        await self._runner.cleanup()

    # --- Answers ----------------------------------------------------------

    async def _chat(self, http: web.Request) -> web.StreamResponse:
        raw = await http.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unreadable": raw[:200].decode("latin-1")}
        request = Request(CHAT, {k.lower(): v for k, v in http.headers.items()}, body, time.monotonic())
        self.requests.append(request)
        reply = self.replies.popleft() if self.replies else self.default
        try:
            return await self._answer(http, request, reply)
        except ConnectionResetError:  # the client went away while the answer was being written
            request.disconnected = True
            return web.Response(status=499)
        except asyncio.CancelledError:
            request.disconnected = True
            raise
        finally:
            request.done.set()

    async def _answer(self, http: web.Request, request: Request, reply: Reply) -> web.StreamResponse:
        assert self._stopping is not None
        if reply.hang:
            await self._stopping.wait()
            raise asyncio.CancelledError
        if reply.raw is not None:
            return web.Response(status=reply.status, body=reply.raw, content_type=None,
                                headers={"Content-Type": reply.raw_content_type})
        if reply.status != 200:
            error = {"error": {"message": f"scripted status {reply.status}", "type": "test", "code": None}}
            return web.json_response(error, status=reply.status)
        model = str(request.body.get("model", "test"))
        if not request.body.get("stream"):
            await asyncio.sleep(reply.first_token_delay)
            request.finished = True
            return web.json_response(self._whole(model, reply))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(http)
        await self._send(response, request, _chunk(model, {"role": "assistant", "content": ""}), count=False)
        await asyncio.sleep(reply.first_token_delay)
        for index, event in enumerate(self._events(model, reply)):
            if reply.cut_after is not None and index >= reply.cut_after:
                # The stream stops half way: the body ends without a finish reason or [DONE].
                await response.write_eof()
                request.finished = True
                return response
            if reply.stall_after is not None and index >= reply.stall_after:
                await self._stopping.wait()
                raise asyncio.CancelledError
            delay = reply.piece_delay or (0.002 if reply.endless else 0.0)
            if index and delay:
                await asyncio.sleep(delay)
            await self._send(response, request, event)
        await self._send(response, request, b"data: [DONE]\n\n", count=False)
        await response.write_eof()
        request.finished = True
        return response

    async def _send(self, response: web.StreamResponse, request: Request, data: bytes, *, count: bool = True) -> None:
        await response.write(data)
        if count:
            request.chunks_sent += 1

    def _events(self, model: str, reply: Reply) -> Iterator[bytes]:
        if reply.events:
            for event in reply.events:
                yield f"data: {event}\n\n".encode()
            return
        if reply.endless:
            index = 0
            while True:
                yield _chunk(model, {"content": f" word{index}"})
                index += 1
        for piece in _pieces(reply.text, reply.piece_chars):
            yield _chunk(model, {"content": piece})
        for index, call in enumerate(reply.tool_calls):
            yield _chunk(model, {"tool_calls": [{"index": index, "id": call.get("id", f"call_{index}"),
                                                 "type": "function",
                                                 "function": {"name": call["name"], "arguments": ""}}]})
            for piece in _pieces(call.get("arguments", ""), 7):
                yield _chunk(model, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield _chunk(model, {}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"))

    def _whole(self, model: str, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": call.get("id", f"call_{index}"), "type": "function",
                 "function": {"name": call["name"], "arguments": call.get("arguments", "")}}
                for index, call in enumerate(reply.tool_calls)
            ]
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": message,
                             "finish_reason": reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
