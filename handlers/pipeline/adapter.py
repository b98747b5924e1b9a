"""The contract between the pipeline and a channel: parse a webhook, render an answer, send a message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.answer import Answer
from handlers.pipeline.http import Rejection
from handlers.pipeline.model import Attempt, Ignored, InboundEvent, OutboxMessage, Outgoing, SendResult


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
