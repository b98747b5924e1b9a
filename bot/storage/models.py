"""Table definitions (SQLAlchemy 2 declarative). The schema itself is created by the alembic migrations in
bot/storage/migrations/; tests check the two agree, so change both together (a new migration each time).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Float, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so later migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database.

    PostgreSQL keeps timestamptz; SQLite has no time zones, so values are stored as naive UTC and read back
    as aware UTC. Comparisons stay correct because bind parameters go through the same conversion.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid); BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ProcessedEvent(Base):
    """A webhook event already handled: (channel, event_id) is claimed by one INSERT, exactly once."""

    __tablename__ = "processed_events"

    channel: Mapped[str] = mapped_column(String(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)

    __table_args__ = (Index("ix_processed_events_seen_at", "seen_at"),)


class Conversation(Base):
    """Short-lived conversation state. `key` is a salted hash of "channel:user", never the raw user id."""

    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(String(), primary_key=True)
    state: Mapped[str] = mapped_column(Text(), nullable=False)  # ConversationState JSON
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)

    __table_args__ = (Index("ix_conversations_updated_at", "updated_at"),)


class QuestionLogEntry(Base):
    """One question and how it was answered, for `budgetbot review`. The user is a salted hash (PDPA)."""

    __tablename__ = "question_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    channel: Mapped[str] = mapped_column(String(), nullable=False)
    user_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    question: Mapped[str] = mapped_column(Text(), nullable=False)
    normalized_question: Mapped[str | None] = mapped_column(Text(), nullable=True)
    answer_kind: Mapped[str] = mapped_column(String(), nullable=False)
    intent: Mapped[str | None] = mapped_column(String(), nullable=True)  # the rule that answered (Answer.intent)
    entry_id: Mapped[str | None] = mapped_column(String(), nullable=True)
    confidence: Mapped[float] = mapped_column(Float(), nullable=False)
    fiscal_year: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    guideline: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    knowledge_version: Mapped[str | None] = mapped_column(String(), nullable=True)

    __table_args__ = (Index("ix_question_log_asked_at", "asked_at"),)


# --- the message pipeline (handlers/pipeline/) -------------------------------------------------------------
# Times here are epoch seconds (floats): the pipeline writes them with plain driver statements, several per
# event, and compares leases on the database's own clock.


class PipelineInstance(Base):
    """A running server process: it renews `heartbeat_at` every second; its lanes are free once that stops."""

    __tablename__ = "pipeline_instances"

    id: Mapped[str] = mapped_column(String(), primary_key=True)
    started_at: Mapped[float] = mapped_column(Float(), nullable=False)
    heartbeat_at: Mapped[float] = mapped_column(Float(), nullable=False)


class PipelineLane(Base):
    """A conversation with work pending (events to answer, messages to send), and which instance handles it.

    `lane` is a keyed hash of channel + chat: never a raw user id. A row exists only while work is pending."""

    __tablename__ = "pipeline_lanes"

    lane: Mapped[str] = mapped_column(String(), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(), nullable=True)
    since: Mapped[float] = mapped_column(Float(), nullable=False)

    __table_args__ = (Index("ix_pipeline_lanes_since", "since"),)


class PipelineInboxEvent(Base):
    """An acknowledged event not answered yet. Committed before the webhook's 200, in the same transaction as its
    de-duplication claim; deleted when its answer is recorded in the outbox. `question` is masked (PDPA); the raw
    chat and user ids are kept only until then, because the answer must be sent to them."""

    __tablename__ = "pipeline_inbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lane: Mapped[str] = mapped_column(String(), nullable=False)
    channel: Mapped[str] = mapped_column(String(), nullable=False)
    event_id: Mapped[str] = mapped_column(String(), nullable=False)
    conversation: Mapped[str] = mapped_column(String(), nullable=False)
    question: Mapped[str | None] = mapped_column(Text(), nullable=True)
    notice: Mapped[str | None] = mapped_column(String(), nullable=True)
    handle: Mapped[str] = mapped_column(Text(), nullable=False)  # ReplyHandle JSON
    occurred_at: Mapped[float] = mapped_column(Float(), nullable=False)
    received_at: Mapped[float] = mapped_column(Float(), nullable=False)
    # What the event asks to be done (issue 11): "subscribe:2571", "unsubscribe:all", "forget" (unfollow).
    action: Mapped[str | None] = mapped_column(String(), nullable=True)

    __table_args__ = (Index("ix_pipeline_inbox_lane_id", "lane", "id"),)


class PipelineOutboxMessage(Base):
    """A message to deliver: one answer (or, later, one notification), with everything its retries need.

    `retry_key` is generated when the row is written, before the first attempt, so every retry of a push reuses
    it (also after a restart). `parts` are the channel's API payloads in order, `parts_done` how many were sent.
    The row, and with it the recipient's raw id in `handle`, is deleted once the message is delivered or given up."""

    __tablename__ = "pipeline_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lane: Mapped[str] = mapped_column(String(), nullable=False)
    channel: Mapped[str] = mapped_column(String(), nullable=False)
    ref: Mapped[str] = mapped_column(String(), nullable=False)  # the event id answered (or a notification id)
    handle: Mapped[str] = mapped_column(Text(), nullable=False)  # ReplyHandle JSON
    parts: Mapped[str] = mapped_column(Text(), nullable=False)  # JSON list of API payloads
    parts_done: Mapped[int] = mapped_column(Integer(), nullable=False)
    retry_key: Mapped[str] = mapped_column(String(), nullable=False)
    created_at: Mapped[float] = mapped_column(Float(), nullable=False)
    event_at: Mapped[float] = mapped_column(Float(), nullable=False)  # the event's own time: reply token age
    received_at: Mapped[float] = mapped_column(Float(), nullable=False)
    deadline: Mapped[float] = mapped_column(Float(), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False)
    next_attempt_at: Mapped[float] = mapped_column(Float(), nullable=False)
    last_reason: Mapped[str | None] = mapped_column(String(), nullable=True)

    __table_args__ = (Index("ix_pipeline_outbox_lane_id", "lane", "id"),)


class TelegramCallback(Base):
    """Callback data of a suggestion button (`h:<digest>`) -> its question, so a tap works after a restart and
    on every instance (Telegram's callback data holds 64 bytes: too few for most Thai questions)."""

    __tablename__ = "telegram_callbacks"

    digest: Mapped[str] = mapped_column(String(), primary_key=True)
    question: Mapped[str] = mapped_column(Text(), nullable=False)
    used_at: Mapped[float] = mapped_column(Float(), nullable=False)

    __table_args__ = (Index("ix_telegram_callbacks_used_at", "used_at"),)


# --- notifications (handlers/notifications/, issue 11) -------------------------------------------------------------


class Subscription(Base):
    """A person told "tell me when fiscal year N opens". `recipient` is the raw channel id (a LINE user id, a
    Telegram chat id): it is needed to push, so it is kept for subscribers only, and deleted with the row on
    unsubscribe, unfollow or a block (403). `user_key` is the keyed hash the rest of storage knows the person by."""

    __tablename__ = "subscriptions"

    channel: Mapped[str] = mapped_column(String(), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(), primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer(), primary_key=True)
    recipient: Mapped[str] = mapped_column(Text(), nullable=False)
    language: Mapped[str] = mapped_column(String(), nullable=False)  # "th" or "en": how notifications are written
    created_at: Mapped[float] = mapped_column(Float(), nullable=False)
    # The window (YYYY-MM-DD; closes '' when unknown) this person was last told about, in the confirmation or a
    # notification; NULL: none. A window notification goes to those told of other dates, so nobody who subscribed
    # while it was being created misses it, and nobody told of it in the confirmation gets it twice.
    told_opens: Mapped[str | None] = mapped_column(String(), nullable=True)
    told_closes: Mapped[str | None] = mapped_column(String(), nullable=True)

    __table_args__ = (Index("ix_subscriptions_fiscal_year", "fiscal_year"),)


class Notification(Base):
    """One notification (a window, an opening day, a reminder, an announcement) and how many it went to. Created
    once, in the transaction that also stores its outgoing batches: `dedupe_key` (openings, reminders) is unique,
    and a window is claimed in notified_windows, so instances and restarts never create one twice."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(), nullable=False)
    fiscal_year: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(), nullable=True, unique=True)
    text: Mapped[str] = mapped_column(Text(), nullable=False)  # the Thai text, for the admin page
    day: Mapped[str] = mapped_column(String(), nullable=False)  # the Bangkok date it was made for (YYYY-MM-DD)
    created_at: Mapped[float] = mapped_column(Float(), nullable=False)
    line_recipients: Mapped[int] = mapped_column(Integer(), nullable=False)
    telegram_recipients: Mapped[int] = mapped_column(Integer(), nullable=False)

    __table_args__ = (Index("ix_notifications_created_at", "created_at"),)


class NotificationBatch(Base):
    """One outgoing message of a notification: a LINE multicast (up to 500 people) or one Telegram chat. `ref` is
    its pipeline_outbox row's ref; `status` pending until delivered or failed (a held batch is pending, its outbox
    row saying why)."""

    __tablename__ = "notification_batches"

    ref: Mapped[str] = mapped_column(String(), primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(), nullable=False)
    channel: Mapped[str] = mapped_column(String(), nullable=False)
    recipients: Mapped[int] = mapped_column(Integer(), nullable=False)
    status: Mapped[str] = mapped_column(String(), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(), nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float(), nullable=True)

    __table_args__ = (Index("ix_notification_batches_notification_id", "notification_id"),)


class NotifiedWindow(Base):
    """The request window the subscribers of a fiscal year were last told about (dates as YYYY-MM-DD, closes ''
    when unknown): a window notification is due when the knowledge's window differs from this."""

    __tablename__ = "notified_windows"

    fiscal_year: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    opens: Mapped[str] = mapped_column(String(), nullable=False)
    closes: Mapped[str] = mapped_column(String(), nullable=False)
    day: Mapped[str] = mapped_column(String(), nullable=False)
    notification_id: Mapped[str] = mapped_column(String(), nullable=False)
