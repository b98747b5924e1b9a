"""Start the real server (`budgetbot serve`) as a separate process for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.env import TEST_SALT

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no channel credentials and its own data dir: tests add what they need."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "TELEGRAM_", "BUDGETBOT_"))}
    env.update(
        {
            "BUDGETBOT_DATA_DIR": str(tmp_path / "data"),
            "BUDGETBOT_TODAY": "2026-11-21",
            "BUDGETBOT_USER_HASH_SALT": TEST_SALT,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHAINLP_READ_ONLY": "1",
            "PYTHAINLP_OFFLINE": "1",
        }
    )
    return env


def line_env(api_url: str, secret: str, token: str) -> dict[str, str]:
    """The variables that turn the LINE channel on, against a (fake) LINE API at `api_url`."""
    return {
        "LINE_CHANNEL_SECRET": secret,
        "LINE_CHANNEL_ACCESS_TOKEN": token,
        "LINE_API_BASE_URL": api_url,
        "LINE_DATA_API_BASE_URL": api_url,
    }


@contextmanager
def running_server(env: dict[str, str], tmp_path: Path, *, timeout: float = 120.0) -> Iterator[ServerProcess]:
    """`budgetbot serve` on a free port, ready (/readyz 200) before the body runs; stopped afterwards.

    The wait is generous: on a busy 2-core machine running other suites a start-up that takes 2 s alone can
    take 30. If it still is not ready, the server is asked for a stack dump of every thread (SIGUSR1, see
    bot/cli.py), and the error carries its whole log."""
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,  # not the repo: a stray .env there must not leak into tests
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        server = ServerProcess(f"http://127.0.0.1:{port}", proc, log_path)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{server.log_text()}")
                try:
                    if httpx.get(f"{server.base_url}/readyz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    with contextlib.suppress(OSError):
                        proc.send_signal(signal.SIGUSR1)  # faulthandler: where is every thread stuck?
                        time.sleep(1.0)
                    raise RuntimeError(f"server not ready in {timeout}s; its log and stacks:\n{server.log_text()}")
                time.sleep(0.1)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def telegram_env(api_url: str, token: str, secret: str) -> dict[str, str]:
    """The variables that turn the Telegram channel on, against a (fake) Bot API at `api_url` (ending in /bot)."""
    return {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_WEBHOOK_SECRET": secret, "TELEGRAM_API_BASE_URL": api_url}


def database_env(database_url: str | None) -> dict[str, str]:
    """BUDGETBOT_DATABASE_URL for a PostgreSQL URL; nothing for SQLite (the file under BUDGETBOT_DATA_DIR)."""
    return {} if not database_url or database_url.startswith("sqlite") else {"BUDGETBOT_DATABASE_URL": database_url}
