"""Fault injection for tests: a LINE fake with per-token and every-Nth failures, a TCP proxy that can cut
a database off, and capture/parsing of the service's JSON log lines.

Everything here runs on 127.0.0.1 only; nothing mocks our own code.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from handlers.logs import JsonFormatter
from tests.fakes.fake_line import REPLY_PATH, FakeLine, RecordedRequest

# --- a LINE fake with finer-grained failures --------------------------------------------------------

HANG: Literal["hang"] = "hang"
INVALID_TOKEN: Literal["invalid"] = "invalid"
Outcome = int | Literal["hang", "invalid"]  # an HTTP status, no answer at all, or 400 "Invalid reply token"


class FaultyLine(FakeLine):
    """FakeLine plus two ways to fail replies, both checked before the usual handling:

    - `script(token, *outcomes)`: the replies with this reply token get these outcomes in turn (then the
      normal answer), so concurrent users can each get their own, deterministic failure;
    - `fail_every(n, status)`: every n-th reply call (counted over all calls) fails with `status`.
    """

    def __init__(self, access_token: str | None = None, *, hang_seconds: float = 30.0) -> None:
        super().__init__(access_token)
        self.hang_seconds = hang_seconds
        self._scripts: dict[str, list[Outcome]] = {}
        self._every = 0
        self._every_status = 500
        self._reply_calls = 0

    def script(self, token: str, *outcomes: Outcome) -> None:
        with self._lock:
            self._scripts.setdefault(token, []).extend(outcomes)

    def fail_every(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._every, self._every_status, self._reply_calls = n, status, 0

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._scripts.clear()
            self._every = 0
            self._reply_calls = 0

    def _next_outcome(self, token: str | None) -> Outcome | None:
        with self._lock:
            self._reply_calls += 1
            queued = self._scripts.get(token or "")
            if queued:
                return queued.pop(0)
            if self._every and self._reply_calls % self._every == 0:
                return self._every_status
            return None

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method != "POST" or request.path != REPLY_PATH:
            return await super()._handle(request)
        body = await request.read()  # aiohttp caches it: the normal handler can read it again
        try:
            data: Any = json.loads(body)
        except ValueError:
            data = None
        token = data.get("replyToken") if isinstance(data, dict) else None
        outcome = self._next_outcome(token if isinstance(token, str) else None)
        if outcome is None:
            return await super()._handle(request)
        if outcome == HANG:
            self._record(request, body, data, 0)  # 0: never answered in time
            assert self._release is not None
            with suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), timeout=self.hang_seconds)
            return web.json_response({"message": "An error occurred in the internal server"}, status=500)
        if outcome == INVALID_TOKEN:
            self._record(request, body, data, 400)
            return web.json_response({"message": "Invalid reply token"}, status=400)
        assert isinstance(outcome, int)
        self._record(request, body, data, outcome)
        return web.json_response({"message": "An error occurred in the internal server"}, status=outcome)


def reply_token_of(request: RecordedRequest) -> str | None:
    return request.json.get("replyToken") if isinstance(request.json, dict) else None


# --- a TCP proxy that can cut a backend off ------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a backend. `cut()` drops every open connection and refuses new ones
    (as when the database host goes away); `blackhole()` keeps every connection open but lets nothing through
    (as in a network partition: no error, just silence); `restore()` forwards again. Threads, no event loop."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._up = True
        self._black = False
        self._held: list[socket.socket] = []  # connections accepted while blackholed
        self._closed = False
        self.refused = 0  # connections turned away while cut
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def up(self) -> bool:
        return self._up

    def cut(self) -> None:
        with self._lock:
            self._up = False
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _hard_close(sock)

    def blackhole(self) -> None:
        with self._lock:
            self._black = True

    def restore(self) -> None:
        """Forward again. After a blackhole, open connections are reset: what they sent was swallowed, so
        they cannot continue (as after a real partition, when the server has long given up on them)."""
        with self._lock:
            dead = self._held + (list(self._open) if self._black else [])
            self._held = []
            if self._black:
                self._open = set()
            self._up = True
            self._black = False
        for sock in dead:
            _hard_close(sock)

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.restore()  # closes held connections
        with suppress(OSError):
            self._listener.close()
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                readable, _, _ = select.select([self._listener], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up:
                self.refused += 1
                _hard_close(client)  # RST: the driver fails at once, like a refused connection
                continue
            if self._black:
                with self._lock:
                    self._held.append(client)  # never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _hard_close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if self._black:
                    continue  # swallowed: the other side waits for an answer that never comes
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _hard_close(src)
            _hard_close(dst)


def _hard_close(sock: socket.socket) -> None:
    with suppress(OSError):
        # Linger 0: close with a reset, so the other side sees the connection die at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


# --- JSON log lines ------------------------------------------------------------------------------------


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among the lines of `text` (anything else, e.g. a stray print, is skipped)."""
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


@dataclass
class LogCapture:
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return parse_json_lines(self.text)


@contextmanager
def json_logs(level: int = logging.INFO) -> Iterator[LogCapture]:
    """The service's JSON log lines (handlers.logs.JsonFormatter), as an in-process app writes them.

    Attach after the app has started: its lifespan replaces the root logger's handlers.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield LogCapture(stream)
    finally:
        root.removeHandler(handler)


def lines_for(
    records: list[dict[str, Any]], event_id: str | int, *, min_level: str = "warning"
) -> list[dict[str, Any]]:
    """Log records about one event at `min_level` or above."""
    order = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
    return [
        r
        for r in records
        if str(r.get("event_id")) == str(event_id) and order.get(str(r.get("level")), 0) >= order[min_level]
    ]


def wait_until(predicate: Any, timeout: float, interval: float = 0.05, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s")
        time.sleep(interval)


# --- waiting for the app, reading /metrics ---------------------------------------------------------------


async def pipeline_idle(pipeline: Any, timeout: float) -> None:
    """Run on the app's loop (TestClient.portal.call): return once the message pipeline has nothing in flight and
    nothing stored waiting (every accepted event answered and its answer delivered or given up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await pipeline.settled():
        if loop.time() > deadline:
            counts = await pipeline.pending()
            raise AssertionError(f"the pipeline is still busy after {timeout}s: {counts}")
        await asyncio.sleep(0.02)


def settle(client: Any, timeout: float = 15.0) -> None:
    """Wait (bounded) until the in-process app's pipeline has finished everything it accepted."""
    assert client.portal is not None
    client.portal.call(pipeline_idle, client.app.state.ctx.pipeline, timeout)


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`, from Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
