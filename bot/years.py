"""Thai government fiscal years, and reading them from questions.

FY N (B.E.) runs from 1 October of N-1 to 30 September of N; B.E. = C.E. + 543.

`read_years` is the fiscal-year view of the time model (bot.time_model.read_time, whose docstring lists what
is read and what is not): each fiscal year named, once, in text order, with the text that named it and how
("be" 2566, "be_short" ปีงบ 66, "ce" 2023 / ค.ศ. 2023, "fy_ce" fy2023, "apostrophe" FY'71, "thai_words"
ปีงบเจ็ดสิบเอ็ด, "date" 5 ต.ค. 69, "month" ก.พ. 70, "span" ต.ค. 70 – ก.ย. 71, "relative" ปีหน้า). A span or a
calendar year names its first fiscal year; a date or a month the year it is written in (see `read_years`); a
range ("2563-2565", "ปี 63-65") both ends. Dates and months without a year (22 พฤษภาคม, ก.พ.) name no year.
Counts, amounts and items (60 โครงการ, 2566 ล้านบาท, 70%, 1.3, ข้อ 66) are never years.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.time_model import follows_year_cue, may_have_word_years, read_time

__all__ = [
    "YearMention",
    "first_year",
    "fiscal_year_end",
    "fiscal_year_of",
    "fiscal_year_start",
    "may_name_years",
    "read_years",
]

BE_OFFSET = 543


def fiscal_year_of(d: date) -> int:
    """B.E. fiscal year that contains the date (October starts the next fiscal year)."""
    return d.year + BE_OFFSET + (1 if d.month >= 10 else 0)


def fiscal_year_start(fy: int) -> date:
    return date(fy - BE_OFFSET - 1, 10, 1)


def fiscal_year_end(fy: int) -> date:
    return date(fy - BE_OFFSET, 9, 30)


@dataclass(frozen=True)
class YearMention:
    year: int  # B.E. fiscal year
    text: str  # the matched text, cue included ("ปีงบ 66", "fy2023", "ปีหน้า")
    how: str  # "relative", or the TimeRef's how: "be", "be_short", "ce", "fy_ce", "apostrophe", "thai_words", ...


_RE_TWO_OR_FOUR = re.compile(r"(?<![\d.,])\d{2}(?:\d{2})?(?!\d)")


def may_name_years(text: str) -> bool:
    """False when the (normalized) text surely names no explicit year: no 4-digit number, no 2-digit one that is
    50 or more or follows a year cue, and no Thai number word after one. Cheap, for the thousands of knowledge
    variants with a number."""
    for m in _RE_TWO_OR_FOUR.finditer(text):
        if len(m.group()) == 4 or int(m.group()) >= 50 or follows_year_cue(text, m.start()):
            return True
    return may_have_word_years(text)


_FISCAL_CUE = re.compile(r"ปีงบ|งบ|งปม|fy|fiscal|financial|budget|ngob")


def read_years(text: str, today: date, *, normalized: bool = False, relative: bool = True) -> list[YearMention]:
    """B.E. fiscal years mentioned in the text, in text order, each year once: a thin view of
    bot.time_model.read_time. `normalized`: the text already went through bot.thai.normalize (it is
    idempotent, but not free); `relative`: also read ปีนี้, next year.

    Each time reference gives its `fiscal_year`; a span or a calendar year its first fiscal year. A date or a
    month gives the year it is written in, read as a calendar year is (its first fiscal year): "11 ธ.ค. 2562"
    names 2562 here, as it always did, though the day falls in FY 2563 (`read_time` gives that). Entries are
    matched on the years their answers name, and a date in an answer ("the cabinet resolved on 11 Dec 2562")
    records an event, not the fiscal year the entry is about. Dates and months without a year (22 พฤษภาคม,
    ก.พ.) name no year and are left out."""
    mentions: list[YearMention] = []
    seen: set[int] = set()
    for ref in read_time(text, today, normalized=normalized):
        is_relative = ref.how == "relative"  # a relative month or part of a year too, whatever its kind
        if (is_relative and not relative) or ref.how.endswith("_no_year"):
            continue
        year = ref.fiscal_year
        fiscal_cue = _FISCAL_CUE.search(ref.text) is not None  # "ต.ค. ปีงบ 70": October of FY 2570
        if ref.kind in ("date", "month") and ref.day is not None and not is_relative and not fiscal_cue:
            year = ref.day.year + BE_OFFSET
        if year not in seen:
            seen.add(year)
            mentions.append(YearMention(year, ref.text, "relative" if is_relative else ref.how))
    return mentions


def first_year(text: str, today: date) -> int | None:
    """The first fiscal year mentioned, or None."""
    mentions = read_years(text, today)
    return mentions[0].year if mentions else None
