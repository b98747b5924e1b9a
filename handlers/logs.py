"""Structured logs: one JSON object a line, with the event id when there is one, never a secret."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
_REDACT_KEYS = ("secret", "token", "authorization", "password", "signature")
MIN_SECRET_LENGTH = 8


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
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(r in key.lower() for r in _REDACT_KEYS):
                value = "***"
            payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return self._scrub(json.dumps(payload, ensure_ascii=False, default=str))


def configure_logging(level: str = "INFO", secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # One line per request is noise next to our own per-webhook lines, and costs throughput.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # alembic announces each of its plugins at start-up: noise in front of the lines a person reads.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # httpx logs full request URLs, and Telegram's URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
