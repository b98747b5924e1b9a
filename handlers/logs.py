"""Logs a person can read and a machine can parse, never with a secret in them.

- `json`: one JSON object a line (time in UTC, ISO 8601), with the event id where there is one; no ANSI codes.
- `text`: `2026-11-21 09:30:00.123 +07 INFO  budgetbot: message  key=value ...`, in Bangkok time like the admin
  page, for a person at a terminal.
BUDGETBOT_LOG_FORMAT chooses (`auto`, the default: text when stderr is a terminal, JSON otherwise). Third-party
libraries log at warning and above only; the server's own access log has a line per request (method, path,
status, milliseconds; never the query string, which may carry anything). `budgetbot serve` says "ready" once the
port is bound, as the last line of its start-up.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
_REDACT_KEYS = ("secret", "token", "authorization", "password", "signature")
# uvicorn passes a coloured copy of some messages; a log file has no use for it.
_DROPPED_KEYS = {"color_message"}
MIN_SECRET_LENGTH = 8
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
BANGKOK = ZoneInfo("Asia/Bangkok")
# Libraries that log at info what nobody reads in a service's log (their warnings and errors still show).
THIRD_PARTY = (
    "uvicorn",
    "uvicorn.error",
    "alembic",
    "httpx",
    "httpcore",
    "watchfiles",
    "asyncio",
    "sqlalchemy",
    "telegram",
    "linebot",
    "aiohttp",
    "multipart",
    "hpack",
    "PIL",
)
ACCESS_LOGGER = "budgetbot.access"


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        # Real secrets and tokens are long; scrubbing a 1-3 character test value would garble every line.
        self._secrets = [s for s in (secrets or []) if s and len(s) >= MIN_SECRET_LENGTH]

    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": ANSI.sub("", record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key in _DROPPED_KEYS or key.startswith("_"):
                continue
            if any(r in key.lower() for r in _REDACT_KEYS):
                value = "***"
            payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return self._scrub(json.dumps(payload, ensure_ascii=False, default=str))


class TextFormatter(JsonFormatter):
    """One readable line a record, in Bangkok time, extras as key=value after the message."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, BANGKOK)
        parts = [
            f"{when:%Y-%m-%d %H:%M:%S}.{int(record.msecs):03d} +07",
            f"{record.levelname:<7}",
            f"{record.name}:",
            ANSI.sub("", record.getMessage()),
        ]
        extras = []
        for key, value in record.__dict__.items():
            if key in _STANDARD or key in _DROPPED_KEYS or key.startswith("_"):
                continue
            if any(r in key.lower() for r in _REDACT_KEYS):
                value = "***"
            shown = value if isinstance(value, (int, float)) else json.dumps(value, ensure_ascii=False, default=str)
            extras.append(f"{key}={shown}")
        line = " ".join(parts) + (f"  {' '.join(extras)}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._scrub(line)


def resolve_format(log_format: str = "auto", stream: Any = None) -> str:
    """ "text" or "json": `auto` is text when the output is a terminal."""
    if log_format in ("text", "json"):
        return log_format
    stream = stream if stream is not None else sys.stderr
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def configure_logging(level: str = "INFO", secrets: list[str] | None = None, log_format: str = "auto") -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = TextFormatter(secrets) if resolve_format(log_format, sys.stderr) == "text" else JsonFormatter(secrets)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's own access log would carry the query string; ours (AccessLog below) does not.
    logging.getLogger("uvicorn.access").setLevel(logging.CRITICAL)
    # httpx logs full request URLs, and Telegram's URLs carry the bot token: warnings only, like the rest.
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class AccessLog:
    """ASGI middleware: one line a request when its response has started ("GET /api/ask 200 12.3 ms"), with
    method, path (never the query string), status and milliseconds as fields; nothing about the client."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            ms = round((time.perf_counter() - started) * 1000, 1)
            method, path = scope.get("method", "?"), scope.get("path", "?")
            self.log.info(
                f"{method} {path} {status} {ms} ms", extra={"method": method, "path": path, "status": status, "ms": ms}
            )


def serve_until_stopped(app: Any, url: str, options: dict[str, Any]) -> int:
    """uvicorn with one process: "budgetbot is ready" is logged once the port is bound (the last line of
    start-up); a port that cannot be bound is exit status 1 (a fault that may pass), never a "ready"."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            try:
                await super().startup(sockets)
            except SystemExit as exc:
                # uvicorn exits 3 for both a failed lifespan and a port it could not bind; the lifespan's
                # configuration errors were refused (exit 2) before this, so what is left is transient.
                raise SystemExit(1) from exc
            if self.started and not self.should_exit:
                say_ready(url)

    server = Server(uvicorn.Config(app, **options))
    server.run()
    return 0 if server.started else 1


def say_ready(url: str) -> None:
    logging.getLogger("budgetbot").info(f"budgetbot is ready: open the web console at {url}", extra={"url": url})


class ThrottledWarnings:
    """One warning line per topic per `every` seconds: an outage must not flood the log."""

    def __init__(self, logger: logging.Logger, every: float) -> None:
        self.logger = logger
        self.every = every
        self._warned_at: dict[str, float] = {}

    def warn(self, topic: str, message: str, *, trace: bool = False) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(topic, -self.every) >= self.every:
            self._warned_at[topic] = now
            self.logger.warning(message, exc_info=trace)
