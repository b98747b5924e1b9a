"""Which notifications are due: a pure function of (knowledge, today, what was already notified).

Subscribers of fiscal year N are told, once each:
- **window**: after a knowledge load in which N has a request window (`opens`, and `closes` when known) whose dates
  differ from the last window notified for N (and that has not closed yet);
- **opening**: on the opening day (Asia/Bangkok), when the window notification went out before it;
- **reminder**: D days before `closes`, for each D of BUDGETBOT_REMINDER_DAYS, while the window is open, and not on
  a day they were already told about the window (its notification or its opening day). After a gap (the server was
  down on the day) only the latest reminder whose day has come is sent, saying how many days are really left.

Opening and reminders follow the window that was notified (what subscribers were told), and only while the
knowledge still has that window: every instance computes the same thing, and the database makes each one once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from bot.knowledge.loader import KnowledgeBase
from bot.years import fiscal_year_start

DEFAULT_REMINDER_DAYS = (7, 1)


class NotificationKind(StrEnum):
    WINDOW = "window"
    OPENING = "opening"
    REMINDER = "reminder"
    ANNOUNCEMENT = "announcement"


@dataclass(frozen=True)
class NotifiedWindow:
    """The window subscribers of `fiscal_year` were last told about, and the (Bangkok) day they were told."""

    fiscal_year: int
    opens: date
    closes: date | None
    day: date


@dataclass(frozen=True)
class Notified:
    windows: dict[int, NotifiedWindow] = field(default_factory=dict)
    sent: frozenset[str] = frozenset()  # dedupe keys of the openings and reminders already created


@dataclass(frozen=True)
class Due:
    kind: NotificationKind
    fiscal_year: int
    opens: date
    closes: date | None
    key: str | None  # the dedupe key (openings, reminders); a window is claimed by its dates instead
    days_left: int | None = None  # reminders: days from today to `closes`
    reminder_days: int | None = None  # reminders: the D of BUDGETBOT_REMINDER_DAYS it is for


def opening_key(year: int, opens: date) -> str:
    return f"opening:{year}:{opens.isoformat()}"


def reminder_key(year: int, closes: date, days: int) -> str:
    return f"reminder:{year}:{closes.isoformat()}:{days}"


def subscribable(kb: KnowledgeBase, year: int, today: date) -> bool:
    """Whether there can still be something to tell about year N: it has not begun, the sources do not say outright
    that it takes no requests, and its window (if known) has not closed."""
    if today >= fiscal_year_start(year):
        return False
    info = kb.fiscal_years.get(year)
    if info is not None and info.status is not None and not info.status.accepting:
        return False
    window = info.window if info is not None else None
    return not (window is not None and window.closes is not None and window.closes < today)


def due_notifications(
    kb: KnowledgeBase,
    today: date,
    notified: Notified,
    reminder_days: Sequence[int] = DEFAULT_REMINDER_DAYS,
    *,
    windows: bool,
) -> list[Due]:
    """What should go out now. `windows`: this follows a knowledge load (window notifications are due only then)."""
    out: list[Due] = []
    for year, info in kb.fiscal_years.items():
        window = info.window
        if window is None or window.opens is None or not subscribable(kb, year, today):
            continue
        opens, closes = window.opens, window.closes
        last = notified.windows.get(year)
        if last is None or (last.opens, last.closes) != (opens, closes):
            if windows:
                out.append(Due(NotificationKind.WINDOW, year, opens, closes, None))
            continue  # what follows is about the window subscribers were told of, and they were not told of this one
        out += _after_window(year, last, today, notified.sent, reminder_days)
    return out


def _after_window(
    year: int, last: NotifiedWindow, today: date, sent: frozenset[str], reminder_days: Iterable[int]
) -> list[Due]:
    out: list[Due] = []
    opens, closes = last.opens, last.closes
    if closes is not None and today > closes:
        return out
    told = last.day
    if last.day < opens <= today:  # told before it opened: one more message once it has
        key = opening_key(year, opens)
        if key not in sent:
            out.append(Due(NotificationKind.OPENING, year, opens, closes, key))
        told = opens
    if closes is None or today < opens:
        return out
    # The latest reminder whose day has come; an earlier one it supersedes is never sent.
    come = sorted(d for d in set(reminder_days) if d >= 0 and closes - timedelta(days=d) <= today)
    if come:
        days = come[0]
        key = reminder_key(year, closes, days)
        if told < closes - timedelta(days=days) and key not in sent:
            left = (closes - today).days
            out.append(Due(NotificationKind.REMINDER, year, opens, closes, key, days_left=left, reminder_days=days))
    return out
