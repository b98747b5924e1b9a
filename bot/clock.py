"""Today's date in Thailand, injectable so tests and `--today` can fix it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")

Clock = Callable[[], date]


def bangkok_today() -> date:
    # The server may run in UTC; a Thai user's "today" flips at midnight Bangkok time.
    return datetime.now(BANGKOK).date()


def fixed_clock(day: date) -> Clock:
    return lambda: day


def clock_for(today: date | None) -> Clock:
    return fixed_clock(today) if today is not None else bangkok_today
