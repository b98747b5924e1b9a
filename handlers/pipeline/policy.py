"""The pipeline's timing and limits: one policy object, built from the settings and handed to the pipeline
(tests pass their own; nothing reads a module global)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.settings import Settings


@dataclass(frozen=True)
class DeliveryPolicy:
    # Retries: exponential backoff from `backoff_first`, doubled each time, capped, until the deadline.
    backoff_first: float = 1.0
    backoff_cap: float = 30.0
    backoff_jitter: float = 0.2  # each pause is lengthened by up to this share, so retries do not come in waves
    delivery_deadline: float = 86_400.0  # seconds after the event: then the message is given up
    reply_token_seconds: float = 25.0  # a reply token counts as fresh this long from the event's timestamp
    max_event_age: float = 86_400.0  # older events are acknowledged and not answered
    request_timeout: float = 5.0  # one API call
    # Concurrency: API calls in flight (a slow API must not cap the rate at this ÷ latency, so it is large),
    # and conversations handled at once by this instance (each answers and delivers in order).
    max_deliveries: int = 256
    max_lanes: int = 1024
    # Questions answered at once. Answering is CPU work under the GIL: more at a time only slows webhooks down.
    # While webhooks are coming in, each answer waits up to `answer_defer` seconds for a moment without one: under
    # a burst the 200s come first (LINE gives a webhook 2 s; the events are stored and can wait), and with real
    # traffic such moments come every few milliseconds.
    max_answering: int = 1
    answer_defer: float = 1.0
    # Leases: an instance renews its heartbeat every `heartbeat_seconds`; its conversations are taken over once
    # the heartbeat is `lease_seconds` old (after a kill -9), or at once when it shuts down cleanly.
    heartbeat_seconds: float = 1.0
    lease_seconds: float = 5.0
    poll_seconds: float = 1.0  # look for work that arrived elsewhere (another instance, a restart)
    # Storage: the webhook waits this long for its commit (LINE gives a webhook 2 s); after a timeout storage is
    # skipped for `storage_pause` and events are handled in memory.
    accept_timeout: float = 1.5
    storage_pause: float = 5.0
    # Shutdown: calls in flight get this long to finish; anything unfinished stays stored for the next start.
    shutdown_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float) -> DeliveryPolicy:
        values: dict[str, float] = {
            "delivery_deadline": float(settings.delivery_deadline),
            "reply_token_seconds": float(settings.reply_token_seconds),
            "max_event_age": float(settings.max_event_age),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt in a row (1, 2, ...)."""
        base = min(self.backoff_cap, self.backoff_first * 2 ** max(0, failures - 1))
        return min(self.backoff_cap, base * (1.0 + random.uniform(0.0, self.backoff_jitter)))
