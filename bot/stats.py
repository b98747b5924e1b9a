"""Usage statistics from the question log, for the admin page: questions per day, fallback rate, top topics.

Days are Bangkok dates (the users' day), computed in SQL so a busy log is counted by the database, not loaded.
Thailand has kept UTC+7 with no daylight saving since 1920, so a fixed 7-hour shift is exact.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, case, func, select

from bot.answer import AnswerKind
from bot.storage import Database
from bot.storage.models import QuestionLogEntry

BANGKOK = ZoneInfo("Asia/Bangkok")
LOW_CONFIDENCE = 0.6  # the same threshold `budgetbot review` uses
FALLBACK = AnswerKind.FALLBACK.value


class DayCount(BaseModel):
    day: date  # Bangkok date
    questions: int
    fallbacks: int


class TopicCount(BaseModel):
    key: str  # a knowledge entry id, or an answer kind
    count: int


class QuestionStats(BaseModel):
    days: int
    first_day: date  # Bangkok dates, inclusive
    last_day: date
    questions: int
    fallbacks: int
    fallback_rate: float = Field(ge=0.0, le=1.0)  # share of answers of kind "fallback"
    low_confidence: int  # answers other than fallbacks with confidence below `min_confidence`
    low_confidence_rate: float = Field(ge=0.0, le=1.0)
    min_confidence: float
    per_day: list[DayCount]  # every day in the range, oldest first, zeros included
    top_entries: list[TopicCount]  # most matched knowledge entries
    top_kinds: list[TopicCount]  # answers by kind, most frequent first


def _bangkok_day(db: Database) -> ColumnElement[str]:
    """The Bangkok date of `asked_at` as 'YYYY-MM-DD', in the database's own dialect."""
    column = QuestionLogEntry.asked_at
    if db.backend == "postgresql":
        return func.to_char(func.timezone("Asia/Bangkok", column), "YYYY-MM-DD")
    # SQLite stores naive UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'); date() understands it and the modifier.
    return func.date(column, "+7 hours")


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def question_stats(
    db: Database,
    days: int,
    *,
    top: int = 10,
    min_confidence: float = LOW_CONFIDENCE,
    now: datetime | None = None,
) -> QuestionStats:
    """Counts for the last `days` Bangkok days including today."""
    today = (now or datetime.now(timezone.utc)).astimezone(BANGKOK).date()
    first_day = today - timedelta(days=days - 1)
    since = datetime.combine(first_day, time.min, BANGKOK).astimezone(timezone.utc)
    until = datetime.combine(today + timedelta(days=1), time.min, BANGKOK).astimezone(timezone.utc)
    log = QuestionLogEntry
    in_range = (log.asked_at >= since, log.asked_at < until)
    is_fallback = log.answer_kind == FALLBACK
    is_low = (log.answer_kind != FALLBACK) & (log.confidence < min_confidence)

    day = _bangkok_day(db).label("day")
    per_day_query = (
        select(
            day,
            func.count().label("questions"),
            func.sum(case((is_fallback, 1), else_=0)).label("fallbacks"),
            func.sum(case((is_low, 1), else_=0)).label("low"),
        )
        .where(*in_range)
        .group_by(day)
    )
    entry_count = func.count().label("n")
    entries_query = (
        select(log.entry_id, entry_count)
        .where(*in_range, log.entry_id.is_not(None))
        .group_by(log.entry_id)
        .order_by(entry_count.desc(), log.entry_id)
        .limit(top)
    )
    kind_count = func.count().label("n")
    kinds_query = (
        select(log.answer_kind, kind_count)
        .where(*in_range)
        .group_by(log.answer_kind)
        .order_by(kind_count.desc(), log.answer_kind)
        .limit(top)
    )
    with db.engine.connect() as connection:
        day_rows = connection.execute(per_day_query).all()
        entry_rows = connection.execute(entries_query).all()
        kind_rows = connection.execute(kinds_query).all()

    counted = {str(row.day): row for row in day_rows}
    per_day: list[DayCount] = []
    questions = fallbacks = low = 0
    for offset in range(days):
        current = first_day + timedelta(days=offset)
        row = counted.get(current.isoformat())
        n, f, lo = (int(row.questions), int(row.fallbacks or 0), int(row.low or 0)) if row else (0, 0, 0)
        per_day.append(DayCount(day=current, questions=n, fallbacks=f))
        questions, fallbacks, low = questions + n, fallbacks + f, low + lo

    return QuestionStats(
        days=days,
        first_day=first_day,
        last_day=today,
        questions=questions,
        fallbacks=fallbacks,
        fallback_rate=_rate(fallbacks, questions),
        low_confidence=low,
        low_confidence_rate=_rate(low, questions),
        min_confidence=min_confidence,
        per_day=per_day,
        top_entries=[TopicCount(key=str(e), count=int(n)) for e, n in entry_rows],
        top_kinds=[TopicCount(key=str(k), count=int(n)) for k, n in kind_rows],
    )
