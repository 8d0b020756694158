"""A real OpenAI-compatible speech server on a loopback port, answering what a test scripts.

Each request to ``/v1/audio/transcriptions`` or ``/v1/audio/speech`` takes
the next scripted answer for its path: JSON, audio, a status, garbage, or a
hang (until the server stops); with no scripted answer left, the path's
``always`` answer (a server that is down, or back), else 404. Requests are kept (path, headers, body) so
that a test can check what the client sent.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    hang: bool = False
    # Sent in pieces of this many bytes (chunked), 0 for all at once.
    chunk_bytes: int = 0


def json_answer(payload: object, status: int = 200) -> Answer:
    return Answer(status=status, body=json.dumps(payload).encode())


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes = field(repr=False)


class SpeechServer:
    def __init__(self) -> None:
        self.scripts: dict[str, deque[Answer]] = {}
        self.defaults: dict[str, Answer] = {}
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                script = server.scripts.get(self.path)
                answer = script.popleft() if script else server.defaults.get(
                    self.path, Answer(status=404, body=b'{"error": "not scripted"}'))
                if answer.hang:
                    server.stopping.wait(30)
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                if answer.chunk_bytes:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(answer.body), answer.chunk_bytes):
                        piece = answer.body[start:start + answer.chunk_bytes]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="speech-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def script(self, path: str, *answers: Answer) -> None:
        self.scripts.setdefault(path, deque()).extend(answers)

    def always(self, path: str, answer: Answer) -> None:
        """What ``path`` answers from now on, once its scripted answers are used up."""
        self.defaults[path] = answer

    def start(self) -> SpeechServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
