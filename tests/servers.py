"""Real servers for the tests, each on 127.0.0.1 at a free port, stopped on exit:

- :class:`ModelServer`: the embedded model behind llama-cpp-python's own OpenAI-compatible
  server (a separate process), reached as ``openai/<alias>`` with ``--api-base``;
- :class:`FaultProxy`: a small HTTP proxy in front of any server that answers some requests
  with a fault instead (429 with and without ``Retry-After``, 500/502/503, a response held past
  the client's timeout, a dropped connection, a truncated body) and counts what it did;
- :class:`ScriptedServer`: an OpenAI-compatible endpoint answering as the fake model does.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from promptopt.llm.types import CompletionRequest
from promptopt.search.mutate.propose import PROPOSER_SYSTEM

FAULTS = ("429", "429-retry-after", "500", "502", "503", "timeout", "drop", "truncate")

# request number (from 0) -> the fault to answer it with, or "ok" to pass it on
FaultPlan = Callable[[int], str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ModelServer:
    """``python -m llama_cpp.server`` serving ``model`` (a GGUF file) as ``alias``."""

    def __init__(self, model: Path, *, alias: str = "served", n_ctx: int = 4096, threads: int = 2) -> None:
        self.model, self.alias, self.n_ctx, self.threads = model, alias, n_ctx, threads
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # the server's own log, closed in stop() (a pipe would fill up and block the server)
        self.log = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180) -> Self:
        args = ["--model", str(self.model), "--model_alias", self.alias, "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", *args, "--verbose", "False"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")
                raise RuntimeError(f"the model server exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the model server did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL, as a crashed machine would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cycle(plan: Sequence[str]) -> FaultPlan:
    """Request n gets ``plan[n % len(plan)]``."""
    return lambda n: plan[n % len(plan)]


def always(fault: str) -> FaultPlan:
    return lambda n: fault


class FaultProxy:
    """Forwards to ``upstream`` (``host:port``) except where ``plan`` says to fail. ``served``
    counts what each request got; ``forwarded`` counts the requests the upstream answered
    (a truncated answer included: the upstream did the work)."""

    def __init__(self, upstream_port: int, plan: FaultPlan, *, hold_s: float = 5.0) -> None:
        self.upstream_port, self.plan, self.hold_s = upstream_port, plan, hold_s
        self.served: Counter[str] = Counter()
        self.forwarded = 0
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def next_fault(self) -> str:
        with self._lock:
            fault = self.plan(next(self._numbers))
            self.served[fault] += 1
            return fault

    def forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=600)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        with self._lock:
            self.forwarded += 1
        return response.status, response.getheaders(), data

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


_ERROR_BODY = b'{"error": {"message": "injected by the test proxy", "type": "server_error"}}'
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = proxy.next_fault() if method == "POST" else "ok"
            if fault in ("429", "429-retry-after", "500", "502", "503"):
                self._error(int(fault[:3]), retry_after="1" if fault == "429-retry-after" else None)
                return
            if fault == "timeout":
                time.sleep(proxy.hold_s)
                self.close_connection = True
                return
            if fault == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            status, upstream_headers, data = proxy.forward(method, self.path, body, headers)
            self.send_response(status)
            for key, value in upstream_headers:
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if fault == "truncate" else data)
            self.close_connection = True

        def _error(self, status: int, *, retry_after: str | None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(_ERROR_BODY)))
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(_ERROR_BODY)
            self.close_connection = True

    return Handler


class ScriptedServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that answers at once with
    ``answer(request)`` (a :mod:`promptopt.testing` handler, so the answers are the fake model's,
    deterministic) and ``usage`` in tokens (a quarter of the characters sent). A request whose
    system message is the instruction writer's is answered as a proposer call. Reached as
    ``openai/<any name>`` with ``--api-base``; it lets a real ``promptopt`` process run over
    HTTP in seconds."""

    def __init__(self, answer: Callable[[CompletionRequest], str]) -> None:
        self.answer = answer
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _scripted_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = tuple((m["role"], m["content"]) for m in body["messages"])
        proposer = bool(messages) and messages[0][1].startswith(PROPOSER_SYSTEM)
        request = CompletionRequest(
            model=str(body.get("model")),
            messages=messages,
            temperature=float(body.get("temperature") or 0.0),
            max_tokens=int(body.get("max_tokens") or 32),
            stop=tuple(body.get("stop") or ()),
            seed=body.get("seed"),
            role="proposer" if proposer else "task",
        )
        with self._lock:
            self.requests += 1
        text = self.answer(request)
        prompt = sum(len(c) for _, c in messages) // 4
        return {
            "id": f"chatcmpl-{self.requests}",
            "object": "chat.completion",
            "created": 0,
            "model": request.model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 2, "total_tokens": prompt + 2},
        }

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _scripted_handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self._send({"object": "list", "data": [{"id": "served", "object": "model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self._send(server.reply(body))

        def _send(self, data: dict[str, Any]) -> None:
            blob = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

    return Handler
