"""Per-client and per-session limits on `POST /api/ask`, and the console's cached welcome.

The limits use `limits`' moving window in memory: each instance counts its own requests, which is what a
limit against one noisy client needs (behind a load balancer, nginx's limit_req adds a shared one).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bot.answer import Answer


@dataclass(frozen=True)
class Refusal:
    scope: str  # "client" or "session": which limit was reached
    retry_after: int  # whole seconds until one more request is allowed (at least 1)


class AskRateLimits:
    def __init__(self, per_client: int, per_session: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._client = RateLimitItemPerMinute(per_client)
        self._session = RateLimitItemPerMinute(per_session)

    def check(self, client: str, session: str | None) -> Refusal | None:
        """Count one request; the limit it exceeds, or None when it may go ahead."""
        if not self._limiter.hit(self._client, "client", client):
            return Refusal("client", self._retry_after(self._client, "client", client))
        if session and not self._limiter.hit(self._session, "session", session):
            return Refusal("session", self._retry_after(self._session, "session", session))
        return None

    def _retry_after(self, item: RateLimitItemPerMinute, *identifiers: str) -> int:
        reset = self._limiter.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))


class WelcomeCache:
    """The welcome answer for one (knowledge version, day): every page load in between shares it."""

    def __init__(self) -> None:
        self._key: tuple[str, date] | None = None
        self._answer: Answer | None = None

    def get(self, key: tuple[str, date]) -> Answer | None:
        return self._answer if key == self._key else None

    def put(self, key: tuple[str, date], answer: Answer) -> Answer:
        self._key, self._answer = key, answer
        return answer
