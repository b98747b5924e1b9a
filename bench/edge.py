"""The HTTP edge under abuse: what one client can cost everyone else. Prints one figure per finding of issue 8.

    .venv/bin/python bench/edge.py                      # this checkout
    .venv/bin/python bench/edge.py --repo /path/to/old  # another checkout, e.g. a worktree of an older commit

Each scenario runs against a fresh `budgetbot serve` (no channels, its own data dir, open-files limit 1,024 as
on a default Linux login), from `--repo` (put first on PYTHONPATH, so an older checkout runs with this venv).
Everything is on 127.0.0.1 and bounded in time; figures are this machine's at this moment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.server import base_env, free_port  # noqa: E402

THAI = [chr(c) for c in range(0x0E01, 0x0E2F)]


@contextmanager
def server(repo: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    tmp = Path(tempfile.mkdtemp(prefix="budgetbot-edge-"))
    env = base_env(tmp)
    env.update({"PYTHONPATH": str(repo), "BUDGETBOT_WATCH_KNOWLEDGE": "false"})
    port = free_port()

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=low_file_limit,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError((tmp / "server.log").read_text())
            time.sleep(0.1)
        yield base, proc, tmp
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def long_question(rng: random.Random) -> str:
    return " ".join("".join(rng.choice(THAI) for _ in range(rng.randint(2, 8))) for _ in range(400))[:2000]


async def healthz_under_long_questions(base: str) -> str:
    rng = random.Random(1)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=100)) as c:

        async def probe() -> list[float]:
            out = []
            for _ in range(40):
                t = time.perf_counter()
                await c.get("/healthz")
                out.append(time.perf_counter() - t)
                await asyncio.sleep(0.01)
            return out

        quiet = await probe()
        flood = asyncio.gather(
            *[c.post("/api/ask", json={"question": long_question(rng), "session": f"s{i}"}) for i in range(20)]
        )
        loaded = await probe()
        await flood
    return (
        f"/healthz p50 {statistics.median(quiet) * 1000:.1f} ms quiet, p50 {statistics.median(loaded) * 1000:.1f} / "
        f"max {max(loaded) * 1000:.0f} ms during 20 concurrent 2,000-character questions"
    )


async def other_user_under_tone_marks(base: str) -> str:
    attack = "ปีงบ 64" + "\u0e48" * 1990  # the console's limit is 2,000 characters
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:

        async def probe(n: int) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                await c.post("/api/ask", json={"question": "ปีงบ 66 ยังยื่นได้ไหม", "session": "victim"})
                out.append(time.perf_counter() - t)
            return out

        quiet = await probe(10)
        attacker = {"question": attack, "session": "attacker"}
        flood = asyncio.gather(*[c.post("/api/ask", json=attacker) for _ in range(20)])
        loaded = await probe(10)
        await flood
    return (
        f"another user's answer p50 {statistics.median(quiet) * 1000:.1f} ms quiet, "
        f"p50 {statistics.median(loaded) * 1000:.1f} / max {max(loaded) * 1000:.0f} ms while one user sends "
        "20 messages of a year and 1,990 tone marks"
    )


def big_headers(base: str, pid: int) -> str:
    host, port = base.removeprefix("http://").split(":")
    before = rss_mb(pid)
    statuses: list[str] = []
    # One complete 16 MB header first: accepted or refused?
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 << 20) + b"\r\n\r\n")
            s.settimeout(10)
            statuses.append(s.recv(64).split(b"\r\n")[0].decode(errors="replace") or "closed")
        except OSError as exc:
            statuses.append(f"closed ({type(exc).__name__})")

    def unterminated() -> None:
        with socket.create_connection((host, int(port)), timeout=30) as s:
            try:
                for _ in range(256):
                    s.sendall(b"a" * 65536 if _ else b"GET / HTTP/1.1\r\nX-Big: ")
                time.sleep(1)
            except OSError:
                pass

    threads = [threading.Thread(target=unterminated) for _ in range(20)]
    for t in threads:
        t.start()
    peak = before
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mb(pid))
        time.sleep(0.05)
    return f"a 16 MB header: {statuses[0]}; 20 unterminated 16 MB headers: RSS +{peak - before:.0f} MB at peak"


def slow_connections(base: str) -> str:
    host, port = base.removeprefix("http://").split(":")
    held: list[float] = []

    def slow() -> None:
        start = time.monotonic()
        try:
            with socket.create_connection((host, int(port)), timeout=60) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                for i in range(120):  # a header line every 0.25 s, never finished, for at most 30 s
                    s.sendall(f"X-{i}: y\r\n".encode())
                    time.sleep(0.25)
        except OSError:
            pass
        held.append(time.monotonic() - start)

    threads = [threading.Thread(target=slow) for _ in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return f"300 slowloris connections held: max {max(held):.1f} s (the bench gives up at 30 s)"


def idle_connections(base: str) -> str:
    host, port = base.removeprefix("http://").split(":")
    opened: list[socket.socket] = []
    try:
        for _ in range(1100):
            try:
                opened.append(socket.create_connection((host, int(port)), timeout=5))
            except OSError:
                break
        try:
            status = str(httpx.get(f"{base}/healthz", timeout=10).status_code)
        except httpx.HTTPError as exc:
            status = f"refused ({type(exc).__name__})"
    finally:
        for s in opened:
            s.close()
    return f"/healthz after {len(opened)} idle connections: {status}"


def api_flood(base: str, data_dir: Path) -> str:
    codes: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=30) as c:
        for i in range(200):
            code = c.post("/api/ask", json={"question": f"แนวทางมีอะไรบ้าง {i}"}).status_code
            codes[code] = codes.get(code, 0) + 1
    time.sleep(1.5)  # the question log is written about once a second
    with sqlite3.connect(data_dir / "data" / "budgetbot.sqlite3") as db:
        conversations = db.execute("SELECT count(*) FROM conversations").fetchone()[0]
    shown = ", ".join(f"{n}x {code}" for code, n in sorted(codes.items()))
    return f"200 sessionless /api/ask from one client in a burst: {shown}; conversation rows left: {conversations}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose server to run (default: this one)")
    args = parser.parse_args()
    repo = args.repo.resolve()
    print(f"# HTTP edge, {repo} ({time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.2f})")
    scenarios = [
        ("healthz", lambda b, p, d: asyncio.run(healthz_under_long_questions(b))),
        ("tone marks", lambda b, p, d: asyncio.run(other_user_under_tone_marks(b))),
        ("headers", lambda b, p, d: big_headers(b, p.pid)),
        ("slow", lambda b, p, d: slow_connections(b)),
        ("idle", lambda b, p, d: idle_connections(b)),
        ("api flood", lambda b, p, d: api_flood(b, d)),
    ]
    for name, run in scenarios:
        with server(repo) as (base, proc, data_dir):
            try:
                print(f"- {run(base, proc, data_dir)}", flush=True)
            except Exception as exc:  # noqa: BLE001 - one scenario failing must not hide the others
                print(f"- {name}: failed: {type(exc).__name__}: {exc}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
