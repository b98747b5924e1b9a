"""What flows through the pipeline: inbound events, reply handles, outgoing messages, and what sending one did."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FailureReason(StrEnum):
    """Why a call to a chat API failed: the `reason` label of budgetbot_reply_failures_total, on every channel."""

    SERVER_ERROR = "server_error"  # 5xx: not delivered
    TIMEOUT = "timeout"  # no answer in time: may have been delivered
    CONNECTION = "connection"  # refused or cut: may have been delivered if it was cut mid-way
    RATE_LIMITED = "rate_limited"  # 429
    UNAUTHORIZED = "unauthorized"  # 401: the access token is wrong (an operator can fix it: retried)
    FORBIDDEN = "forbidden"  # 403: e.g. the user blocked the bot
    CLIENT_ERROR = "client_error"  # another 4xx: the request itself is wrong, retrying cannot help
    INVALID_REPLY_TOKEN = "invalid_reply_token"  # LINE: the reply token was used or has expired
    REPLY_TOKEN_EXPIRED = "reply_token_expired"  # LINE: too old to try a reply at all, pushed instead
    ANSWER_FAILED = "answer_failed"  # answering or rendering raised: an apology is sent instead
    DEADLINE_PASSED = "deadline_passed"  # still undelivered at BUDGETBOT_DELIVERY_DEADLINE: given up
    QUOTA_EXCEEDED = "quota_exceeded"  # LINE: the month's message quota would be exceeded: held, checked again later
    UNEXPECTED = "unexpected"


# Worth another try after a pause (the API or the network may come back); anything else is final.
RETRYABLE = frozenset(
    {
        FailureReason.SERVER_ERROR,
        FailureReason.TIMEOUT,
        FailureReason.CONNECTION,
        FailureReason.RATE_LIMITED,
        FailureReason.UNAUTHORIZED,
        FailureReason.QUOTA_EXCEEDED,
    }
)
# The request may have reached the API before it failed: the message may already be with the user.
MAYBE_SENT = frozenset({FailureReason.TIMEOUT, FailureReason.CONNECTION})


FORGET = "forget"  # InboundEvent.action of an unfollow: forget the person's subscriptions, reply nothing


class EventOutcome(StrEnum):
    """What the webhook did with one event: the `outcome` label of budgetbot_events_total."""

    ACCEPTED = "accepted"  # stored: it will be answered
    DUPLICATE = "duplicate"  # already handled (a redelivery): acknowledged, not answered again
    STALE = "stale"  # older than BUDGETBOT_MAX_EVENT_AGE: acknowledged, not answered
    NOT_ADDRESSED = "not_addressed"  # a group message that does not address the assistant
    IGNORED = "ignored"  # nothing to answer (unfollow, leave, unsend, standby, verification...)
    IN_MEMORY = "in_memory"  # the database was unreachable: answered from memory, not durable


@dataclass(frozen=True)
class ReplyHandle:
    """Where and how an answer goes. Channel-neutral fields; each adapter uses the ones its API has.

    `to` is the raw chat id (LINE user, group or room; Telegram chat): it is needed to send, so it is stored only
    with pending work and deleted with it."""

    to: str
    token: str | None = None  # a single-use reply token (LINE)
    quote: str | None = None  # the asker's message, quoted in the answer (LINE quoteToken, Telegram message_id)
    ack: str | None = None  # to acknowledge before answering (Telegram callback_query id)
    heading: str | None = None  # shown above the answer (Telegram: the tapped suggestion)
    group: bool = False  # a group chat: suggestions must work without a mention

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in (None, False)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ReplyHandle:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class InboundEvent:
    """One webhook event, parsed by its channel's adapter.

    `lane` is the chat whose answers must stay in order (a user, a group); `conversation` the memory key within
    it (a person: in a group every member has their own). Exactly one of `question` (to answer) and `notice`
    (an adapter-defined fixed reply, e.g. the help text for a sticker) is set for an event that gets a reply."""

    channel: str
    event_id: str
    lane: str
    conversation: str
    handle: ReplyHandle
    occurred_at: float  # epoch seconds, the channel's own timestamp
    received_at: float  # epoch seconds, when the webhook arrived
    question: str | None = None
    notice: str | None = None
    redelivery: bool = False
    # Something to carry out (issue 11): "subscribe:2571", "unsubscribe:all" (a button or a command: replied to
    # with a confirmation), or FORGET (LINE unfollow: no reply, every subscription of the person removed).
    action: str | None = None


@dataclass(frozen=True)
class Ignored:
    """An event that gets no reply, with why (for the metric and the debug log)."""

    channel: str
    event_id: str | None
    outcome: EventOutcome
    detail: str = ""


@dataclass
class Outgoing:
    """An answer rendered by an adapter: its API payloads in order (LINE: one call of up to 5 messages; Telegram:
    one sendMessage per message), plus facts the adapter wants stored with the answer (Telegram callback data)."""

    parts: list[dict[str, Any]]
    callbacks: dict[str, str] = field(default_factory=dict)  # Telegram: digest -> question


@dataclass(frozen=True)
class PushBatch:
    """One message to send to people who did not just write (a notification): for LINE a multicast to up to 500 of
    them, for Telegram one chat. `chat` names the chat whose lane it joins (its answers and it stay in order); None
    gives it a lane of its own (a multicast is nobody's chat). `count` is how many people it reaches."""

    to: str
    parts: list[dict[str, Any]]
    count: int
    chat: str | None = None


@dataclass
class OutboxMessage:
    """A message being delivered (a row of pipeline_outbox, or in memory while the database is unreachable)."""

    id: int | None  # None: not stored (the database was unreachable)
    lane: str
    channel: str
    ref: str
    handle: ReplyHandle
    parts: list[dict[str, Any]]
    parts_done: int
    retry_key: str
    created_at: float
    event_at: float
    received_at: float
    deadline: float
    attempts: int = 0
    next_attempt_at: float = 0.0
    resumed: bool = False  # loaded after a restart or a takeover: an earlier attempt may have gone through
    reasons: list[str] = field(default_factory=list)  # failures so far (this process)


class SendStatus(StrEnum):
    DELIVERED = "delivered"  # the whole message is with the user
    PART_SENT = "part_sent"  # one part sent, more to go (recorded before the next)
    FAILED = "failed"


@dataclass(frozen=True)
class SendResult:
    """What one call to the API did, as the adapter reports it to the pipeline."""

    status: SendStatus
    how: str = ""  # for the deliveries metric: replied, pushed, probably_delivered, sent
    reason: FailureReason | None = None
    retry_after: float | None = None  # the API said when to come back (Telegram RetryAfter)
    retry_now: bool = False  # try again at once another way (LINE: the reply token is dead, push instead)
    counted: tuple[FailureReason, ...] = ()  # extra failures to count without failing (LINE: token expired)
    detail: str = ""  # stored with the failure for people to read (LINE: the quota figures of a held batch)

    @classmethod
    def delivered(cls, how: str, counted: tuple[FailureReason, ...] = ()) -> SendResult:
        return cls(SendStatus.DELIVERED, how=how, counted=counted)

    @classmethod
    def part_sent(cls) -> SendResult:
        return cls(SendStatus.PART_SENT, how="sent")

    @classmethod
    def failed(
        cls,
        reason: FailureReason,
        *,
        retry_after: float | None = None,
        retry_now: bool = False,
        counted: tuple[FailureReason, ...] = (),
        detail: str = "",
    ) -> SendResult:
        return cls(
            SendStatus.FAILED,
            reason=reason,
            retry_after=retry_after,
            retry_now=retry_now,
            counted=counted,
            detail=detail,
        )


@dataclass
class Attempt:
    """What the pipeline tells an adapter about the attempt it is to make."""

    number: int  # 1 for the first attempt of this message in this process
    token_fresh: bool  # the reply token is younger than BUDGETBOT_REPLY_TOKEN_SECONDS
    maybe_sent: bool  # an earlier attempt may have reached the API (timeout, cut connection, restart)
    token_dead: bool = False  # the reply token was refused: use the other way
    timeout: float = 5.0  # seconds for this call
