"""SQL implementations of the service's storage protocols (bot/conversation.py, bot/service.py).

The protocol methods are async and run one short synchronous statement in a thread (asyncio.to_thread).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.conversation import ConversationState
from bot.privacy import hash_user
from bot.settings import Settings
from bot.storage.models import Conversation, ProcessedEvent, QuestionLogEntry
from bot.workers import STORAGE

if TYPE_CHECKING:
    # bot.service imports the assistant (the knowledge and Thai NLP): storage must load without them.
    from bot.service import LoggedQuestion
    from bot.storage.database import Database

log = logging.getLogger(__name__)

# LINE and Telegram redeliver within hours; a week is a generous margin, and the rows are tiny.
EVENT_TTL = timedelta(days=7)
# Longer than any LINE (5,000) or Telegram (4,096) message; bounds what the console API can make us store.
MAX_QUESTION_CHARS = 5_000


def normalize_question(text: str) -> str:
    """Comparable form of a question: bot.thai.normalize when it loads, else casefold and collapsed spaces."""
    try:
        from bot.thai import normalize
    except Exception:  # noqa: BLE001 - the Thai module is optional here; plain folding still groups most repeats
        return " ".join(text.casefold().split())
    return normalize(text)


def event_ttl(settings: Settings) -> timedelta:
    """How long processed event ids are kept: at least EVENT_TTL, and always longer than BUDGETBOT_MAX_EVENT_AGE,
    so a signed body replayed after its id was purged is refused as stale before it could be claimed again."""
    return max(EVENT_TTL, timedelta(seconds=settings.max_event_age) + timedelta(days=1))


def encode_state(state: ConversationState) -> str:
    """The stored form of a conversation state (stamped with the time of saving)."""
    return state.model_copy(update={"updated_at": time.time()}).model_dump_json()


def decode_state(payload: str, updated_at: datetime, ttl: timedelta) -> ConversationState | None:
    """A stored state, or None when it expired or was written by an older version with another shape."""
    if updated_at.tzinfo is None:
        updated_at = updated_at.replace(tzinfo=timezone.utc)
    if updated_at < _utcnow() - ttl:
        return None  # expired rows are deleted by purge; until then they are just ignored
    try:
        return ConversationState.model_validate_json(payload)
    except ValidationError:
        log.warning("stored conversation state unreadable; starting afresh")
        return None


def _safe_text(text: str) -> str:
    """Text every database accepts: PostgreSQL rejects NUL, and no driver encodes lone surrogates."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _insert(db: Database, table: Any) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has ON CONFLICT (SQLAlchemy's generic insert does not)."""
    return postgresql.insert(table) if db.backend == "postgresql" else sqlite.insert(table)


class SqlEventLedger:
    """EventLedger shared by every instance on the database: one INSERT ... ON CONFLICT decides each claim."""

    def __init__(self, db: Database, *, ttl: timedelta = EVENT_TTL) -> None:
        self.db = db
        self.ttl = ttl

    async def claim(self, channel: str, event_id: str) -> bool:
        return await STORAGE.run(self.claim_sync, channel, event_id)

    def claim_sync(self, channel: str, event_id: str) -> bool:
        now = _utcnow()
        table = ProcessedEvent.__table__
        stmt = _insert(self.db, table).values(channel=_safe_text(channel), event_id=_safe_text(event_id), seen_at=now)
        # A conflicting row blocks the claim unless it has expired; then it is taken over. Either way it is one
        # atomic statement: of any number of concurrent claims exactly one affects a row (rowcount 1).
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.channel, table.c.event_id],
            set_={"seen_at": stmt.excluded.seen_at},
            where=table.c.seen_at < now - self.ttl,
        )
        # SQLAlchemy only guarantees rowcount for UPDATE/DELETE unless asked to keep it.
        stmt = stmt.execution_options(preserve_rowcount=True)
        with self.db.engine.begin() as connection:
            return connection.execute(stmt).rowcount == 1

    def purge_expired(self, *, now: datetime | None = None) -> int:
        cutoff = (now or _utcnow()) - self.ttl
        with self.db.engine.begin() as connection:
            return connection.execute(delete(ProcessedEvent).where(ProcessedEvent.seen_at < cutoff)).rowcount


class SqlConversationStore:
    """ConversationStore in the database, so a conversation continues on whichever instance gets the next message.

    Keys ("channel:user") are stored as salted hashes: the table never holds a raw user id.
    """

    def __init__(self, db: Database, *, salt: str, ttl_seconds: float = 1800.0) -> None:
        self.db = db
        self.salt = salt
        self.ttl = timedelta(seconds=ttl_seconds)

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> SqlConversationStore:
        return cls(db, salt=settings.user_hash_salt, ttl_seconds=settings.conversation_ttl_minutes * 60)

    async def load(self, key: str) -> ConversationState | None:
        return await STORAGE.run(self.load_sync, key)

    async def save(self, key: str, state: ConversationState) -> None:
        await STORAGE.run(self.save_sync, key, state)

    def load_sync(self, key: str) -> ConversationState | None:
        query = select(Conversation.state, Conversation.updated_at).where(Conversation.key == hash_user(key, self.salt))
        with self.db.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else decode_state(row.state, row.updated_at, self.ttl)

    def save_sync(self, key: str, state: ConversationState) -> None:
        now = _utcnow()
        payload = encode_state(state)
        table = Conversation.__table__
        stmt = _insert(self.db, table).values(key=hash_user(key, self.salt), state=payload, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
        with self.db.engine.begin() as connection:
            connection.execute(stmt)

    def purge_expired(self, *, now: datetime | None = None) -> int:
        cutoff = (now or _utcnow()) - self.ttl
        with self.db.engine.begin() as connection:
            return connection.execute(delete(Conversation).where(Conversation.updated_at < cutoff)).rowcount


class SqlQuestionLog:
    """QuestionLog for `budgetbot review`: what was asked and how it was answered, with a hashed user."""

    def __init__(self, db: Database, *, salt: str) -> None:
        self.db = db
        self.salt = salt

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> SqlQuestionLog:
        return cls(db, salt=settings.user_hash_salt)

    async def record(self, item: LoggedQuestion) -> None:
        await STORAGE.run(self.record_sync, item)

    def record_sync(self, item: LoggedQuestion) -> None:
        self.record_many_sync([item])

    def record_many_sync(self, items: list[LoggedQuestion]) -> None:
        """Insert several log rows in one transaction."""
        if items:
            with self.db.engine.begin() as connection:
                connection.execute(QuestionLogEntry.__table__.insert(), [self._row(i) for i in items])

    def _row(self, item: LoggedQuestion) -> dict[str, object]:
        answer = item.answer
        asked_at = item.at if item.at.tzinfo else item.at.replace(tzinfo=timezone.utc)
        question = _safe_text(item.question[:MAX_QUESTION_CHARS])
        row: dict[str, object] = {
            "asked_at": asked_at,
            "channel": _safe_text(item.channel),
            "user_hash": hash_user(item.user, self.salt),
            "question": question,
            "normalized_question": _safe_text(normalize_question(question)) or None,
            "answer_kind": str(answer.kind.value),
            "intent": answer.intent,
            "entry_id": answer.entry_id,
            "confidence": float(answer.confidence),
            "fiscal_year": answer.fiscal_year,
            "guideline": answer.guideline,
            "knowledge_version": answer.knowledge_version,
        }
        return row

    def purge_old(self, retention_days: int, *, now: datetime | None = None) -> int:
        """Delete questions asked more than `retention_days` ago; returns how many."""
        cutoff = (now or _utcnow()) - timedelta(days=retention_days)
        with self.db.engine.begin() as connection:
            return connection.execute(delete(QuestionLogEntry).where(QuestionLogEntry.asked_at < cutoff)).rowcount


class BufferedQuestionLog:
    """Writes the question log in batches: one transaction per second instead of one per question.

    The log is for the weekly review, so a second's delay costs nothing; the commit per question it saves
    is a large share of a webhook's work. `run()` flushes periodically (a task in the app's lifespan) and
    `flush()` is called once more at shutdown. While the database is down, rows wait in memory up to
    `max_pending`; beyond that the oldest are dropped, and said so in the log.
    """

    def __init__(self, inner: SqlQuestionLog, *, interval: float = 1.0, max_pending: int = 10_000) -> None:
        self.inner = inner
        self.interval = interval
        self.max_pending = max_pending
        self._pending: list[LoggedQuestion] = []
        self._lock = asyncio.Lock()

    async def record(self, item: LoggedQuestion) -> None:
        self._pending.append(item)
        if len(self._pending) > self.max_pending:
            dropped = len(self._pending) - self.max_pending
            del self._pending[:dropped]
            log.warning("question log backlog full: oldest rows dropped", extra={"dropped": dropped})

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await STORAGE.run(self.inner.record_many_sync, batch)
            except Exception:  # noqa: BLE001 - keep the rows for the next try
                self._pending[:0] = batch
                raise

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - the database may be down for a while
                log.warning("question log flush failed; will retry", exc_info=True)
