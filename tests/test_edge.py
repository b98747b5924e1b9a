"""The HTTP edge of a real server process: headers, request time and connections are limited by the server
itself; one user's costly questions do not hold up anyone else; the API docs are private unless asked for;
every response says nosniff."""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app import app_client
from tests.support.server import ServerProcess, base_env, running_server

REQUEST_TIMEOUT = 2.0
MAX_CONNECTIONS = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("edge")
    env = base_env(tmp)
    env.update(
        {
            "BUDGETBOT_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
            "BUDGETBOT_KEEPALIVE_TIMEOUT": "1",
            "BUDGETBOT_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
            "BUDGETBOT_WATCH_KNOWLEDGE": "false",
        }
    )
    with running_server(env, tmp) as running:
        yield running


def _address(server: ServerProcess) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _healthy(server: ServerProcess) -> bool:
    return httpx.get(f"{server.base_url}/healthz", timeout=30).status_code == 200


def _status_line(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data.split(b"\r\n", 1)[0]


def test_oversized_headers_are_refused_with_431_and_cost_no_memory(server: ServerProcess) -> None:
    before = _rss_mb(server.process.pid)
    statuses: list[bytes] = []

    def flood() -> None:
        # 16 MB of one header that never ends, as in the finding: refused after the first 16 KB.
        with socket.create_connection(_address(server), timeout=30) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                chunk = b"a" * 65536
                for _ in range(256):
                    sock.sendall(chunk)
            except OSError:
                pass  # the server closed the connection on us: what it should do
            statuses.append(_status_line(sock, 10))

    threads = [threading.Thread(target=flood) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    grown = _rss_mb(server.process.pid) - before
    assert grown < 64, f"the server grew by {grown:.0f} MB"  # unlimited headers cost +361 MB
    assert any(b" 431 " in s for s in statuses), statuses
    assert _healthy(server)


@pytest.mark.parametrize("writes", [1, 2], ids=["one-write", "two-writes"])
def test_headers_over_the_limit_are_refused_however_they_arrive(server: ServerProcess, writes: int) -> None:
    def status(header_bytes: int) -> bytes:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        filler = b"".join(f"X-H{i}: {'v' * 90}\r\n".encode() for i in range(header_bytes // 100))
        request = head + filler + b"\r\n"
        with socket.create_connection(_address(server), timeout=30) as sock:
            cut = len(request) // 2 if writes == 2 else len(request)
            try:
                sock.sendall(request[:cut])
                time.sleep(0.05)
                sock.sendall(request[cut:])
            except OSError:
                pass
            return _status_line(sock, 10)

    assert status(18_000).startswith(b"HTTP/1.1 431"), "18 KB of complete headers"
    assert status(14_000).startswith(b"HTTP/1.1 200"), "14 KB of headers are within the 16 KB limit"


def test_a_slow_client_is_cut_off_at_the_request_timeout(server: ServerProcess) -> None:
    def slow(results: list[tuple[float, bytes]]) -> None:
        started = time.monotonic()
        with socket.create_connection(_address(server), timeout=30) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                for i in range(100):  # one header every 0.25 s, never finishing: slowloris
                    sock.sendall(f"X-Slow-{i}: y\r\n".encode())
                    time.sleep(0.25)
            except OSError:
                pass
            line = _status_line(sock, 5)
        results.append((time.monotonic() - started, line))

    results: list[tuple[float, bytes]] = []
    threads = [threading.Thread(target=slow, args=(results,)) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    held = max(seconds for seconds, _ in results)
    # Cut at REQUEST_TIMEOUT (2 s); before, 300 such connections were held 20 s and more. Generous for a busy machine.
    assert held < REQUEST_TIMEOUT + 15, held
    assert all(line.startswith(b"HTTP/1.1 408") or line == b"" for _, line in results), results
    assert any(line.startswith(b"HTTP/1.1 408") for _, line in results), results


def test_a_silent_connection_is_closed(server: ServerProcess) -> None:
    started = time.monotonic()
    with socket.create_connection(_address(server), timeout=30) as sock:
        assert sock.recv(1) == b""  # closed by the server, without a byte from us
    assert time.monotonic() - started < REQUEST_TIMEOUT + 15


def test_idle_connections_cannot_lock_requests_out(server: ServerProcess) -> None:
    idle = [socket.create_connection(_address(server), timeout=30) for _ in range(6 * MAX_CONNECTIONS)]
    try:
        # Six times the limit: the oldest idle ones make room, and a real request is still served.
        assert _healthy(server)
        closed = 0
        for sock in idle:
            sock.setblocking(False)
            try:
                closed += sock.recv(1) == b""
            except BlockingIOError:
                pass
        assert closed >= 4 * MAX_CONNECTIONS, closed
    finally:
        for sock in idle:
            sock.close()


def test_one_users_costly_questions_do_not_hold_up_another_user(server: ServerProcess) -> None:
    """One user sends 20 messages of a year and 1,990 tone marks (the console's length limit is 2,000; the
    finding used LINE, which goes through the same answering service). Another user's answers take about as
    long as on a quiet server: normalizing the marks cost 0.4-0.6 s of event-loop time each before."""
    attack = "ปีงบ 64" + "\u0e48" * 1990

    async def run() -> tuple[list[float], list[float]]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:

            async def probe(n: int) -> list[float]:
                out = []
                for _ in range(n):
                    started = time.perf_counter()
                    response = await client.post("/api/ask", json={"question": "ปีงบ 66 ยังยื่นได้ไหม", "session": "v"})
                    assert response.status_code == 200
                    out.append(time.perf_counter() - started)
                return out

            quiet = await probe(8)
            flood = asyncio.gather(
                *[client.post("/api/ask", json={"question": attack, "session": "attacker"}) for _ in range(20)]
            )
            during = await probe(8)
            replies = await flood
            assert all(r.status_code in (200, 429) for r in replies)
            return quiet, during

    quiet, during = asyncio.run(run())
    extra = statistics.median(during) - statistics.median(quiet)
    print(
        f"another user's answer: quiet median {statistics.median(quiet) * 1000:.1f} ms, during {extra * 1000:+.1f} ms"
    )
    assert extra < 0.05, (quiet, during)


# --- in-process: docs and headers ----------------------------------------------------------------------------


def test_api_docs_are_private_unless_turned_on(tmp_path: Path) -> None:
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    with app_client(tmp_path / "off") as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
    with app_client(tmp_path / "on", api_docs=True) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200


def test_every_response_says_nosniff(tmp_path: Path) -> None:
    with app_client(tmp_path, ask_rate_per_client=1, max_body_bytes=2048) as client:
        responses = [
            client.get("/healthz"),
            client.get("/"),
            client.get("/nothing-here"),
            client.post("/api/ask", json={"question": 5}),
            client.post("/api/ask", content=b"x" * 4096, headers={"content-type": "application/json"}),
            client.post("/api/ask", json={"question": "สวัสดี"}),
            client.post("/api/ask", json={"question": "สวัสดี"}),  # the second is over the limit
            client.post("/webhooks/line", content=b"{}"),
        ]
    assert {r.status_code for r in responses} >= {200, 404, 413, 422, 429}
    assert all(r.headers.get("x-content-type-options") == "nosniff" for r in responses)
