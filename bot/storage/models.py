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
    entry_id: Mapped[str | None] = mapped_column(String(), nullable=True)
    confidence: Mapped[float] = mapped_column(Float(), nullable=False)
    fiscal_year: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    guideline: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    knowledge_version: Mapped[str | None] = mapped_column(String(), nullable=True)

    __table_args__ = (Index("ix_question_log_asked_at", "asked_at"),)
