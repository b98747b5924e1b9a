"""The contract between the pipeline and a channel: parse a webhook, render an answer, send a message."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.answer import Answer
from bot.storage.direct import Tx
from handlers.pipeline.http import Rejection
from handlers.pipeline.model import (
    Attempt,
    FailureReason,
    Ignored,
    InboundEvent,
    OutboxMessage,
    Outgoing,
    SendResult,
)

Effect = Callable[[Tx], None]  # a write to commit in the same transaction as the pipeline's own


class MalformedWebhook(Exception):
    """The body is not what the channel sends: a 400 with this message, and a log line."""


@dataclass
class Parsed:
    events: list[InboundEvent] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


class ChannelAdapter(Protocol):
    """What a channel provides. Everything else (storing, de-duplicating, ordering, answering, retrying,
    counting, error bodies) is the pipeline's."""

    name: str

    async def ready(self) -> Rejection | None:
        """None when webhooks can be taken now; otherwise why not (e.g. 503 while the API is not reachable)."""
        ...

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> Rejection | None:
        """None when the request really comes from the channel (signature, secret token)."""
        ...

    async def parse(self, body: bytes, received_at: float) -> Parsed:
        """The body's events in order; raises MalformedWebhook for a body the channel would never send."""
        ...

    def render(self, event: InboundEvent, answer: Answer) -> Outgoing:
        """The answer as this channel's API payloads."""
        ...

    def render_notice(self, event: InboundEvent, notice: str) -> Outgoing:
        """A fixed reply named by the event's `notice` (or "error" when answering failed)."""
        ...

    async def send(self, message: OutboxMessage, attempt: Attempt) -> SendResult:
        """One API call for the message's next part; never raises for an API or network failure."""
        ...

    # Optional: `async def pace(self, message: OutboxMessage) -> None`, awaited before each call is made (outside
    # the bound on calls in flight): a channel with a rate limit of its own waits there (Telegram: 25 a second).


class PipelineHooks(Protocol):
    """What the rest of the service does with the pipeline's events and messages, each write committed with the
    pipeline's own (issue 11: subscriptions carried out with the event's answer, notification batches counted)."""

    async def act(self, event: InboundEvent, *, stored: bool) -> tuple[Answer | None, Effect | None]:
        """An event whose `action` is set (a button, a command, an unfollow): its reply (None: no reply) and what to
        write with it. `stored`: the event is in the database (False: held in memory, nothing can be written)."""
        ...

    async def carry_out(self, event: InboundEvent, answer: Answer, *, stored: bool) -> tuple[Answer, Effect | None]:
        """An answer whose `action` is set (asked for in words): the reply to send instead, and what to write."""
        ...

    def finished(self, message: OutboxMessage, delivered: bool, reason: FailureReason | None) -> Effect | None:
        """A message was delivered or given up: what to record (run before its outbox row goes; idempotent)."""
        ...
