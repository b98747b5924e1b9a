"""Thai government fiscal years, and reading them from questions.

FY N (B.E.) runs from 1 October of N-1 to 30 September of N; B.E. = C.E. + 543.

How `read_years` reads numbers (on normalized text, see bot.thai.normalize):
- 4 digits 2500..2699: a B.E. year ("be"), with or without a cue (2566, พศ 2566, fy2566, ปีงบ 2566).
- 4 digits 1990..2156: a C.E. year, + 543. After a fiscal cue (fy, fiscal year, ปีงบ, ปีงบประมาณ, งบ, งบปี)
  it is a fiscal year in C.E. ("fy_ce": fy2023 -> 2566), otherwise a calendar year ("ce": 2023, คศ 2023).
  Both give the same B.E. number; `how` only records which reading was made.
- 2 digits count only after a cue (ปี, ปีงบ, ปีงบประมาณ, งบ, งบปี, งบประมาณ, fy, fiscal year, พศ, คศ),
  optionally with one space: 50..99 -> 25xx ("be_short"). After fy / fiscal year / คศ, 00..49 is a short
  C.E. year: fy23 -> 2023 -> 2566 ("fy_ce"), คศ 23 -> 2566 ("ce").
- A range continues a year's reading: "2563-2565" and "ปี 63-65" give both ends.
- A bare 2-digit 60..99 standing alone as a whole word counts ("be_short") only when the text also speaks of
  applying or budgets (ยื่น, ขอ, รับ, เปิด, ปิด, งบ): "66 ยังยื่นได้ไหม". It is refused before a counting
  word (60 โครงการ, 60 ปี) and after words that introduce a count or an item (ข้อ, มาตรา, จำนวน, ...).
- Never: part of a decimal or grouped number (1.3, 2,409.3962), or a number followed by a money or percent
  unit (2566 ล้านบาท, 66 บาท, 70%). A day before a month name (22 พฤษภาคม) has no cue, so it is not read.
- Relative phrases (ปีนี้, ปีงบหน้า, ปีที่แล้ว, this/next/last fiscal year, ...) resolve against `today`
  ("relative").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.thai import normalize

__all__ = [
    "YearMention",
    "first_year",
    "fiscal_year_end",
    "fiscal_year_of",
    "fiscal_year_start",
    "read_years",
]

BE_OFFSET = 543
_BE_MIN, _BE_MAX = 2500, 2699
_CE_MIN, _CE_MAX = 1990, 2156  # the same span as 2533..2699 B.E.


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
    how: str  # one of "be", "be_short", "ce", "fy_ce", "relative"


# A whole number: not a piece of 1.3 or 2,409.3962 (a trailing full stop is fine).
_RE_NUMBER = re.compile(r"(?<![\d.,])\d+(?![\d])(?![.,]\d)")
# Cues right before a number, longest first so ปีงบประมาณ wins over ปี. Groups name the cue's kind.
_RE_CUE = re.compile(
    r"(?:(?P<fiscal>ปีงบประมาณ|ปีงบ|ปีงปม|งบประมาณปี|งบประมาณ|งปม|งบปี|งบ|(?<![a-z])fy|fiscal year|budget year)"
    r"|(?P<year>ปี)|(?P<be>พศ)|(?P<ce>คศ))\s?$"
)
_RE_RANGE_JOIN = re.compile(r"\s?(?:-|–|ถึง)\s?")
_RE_MONEY_AFTER = re.compile(r"\s?(?:ล้าน|บาท|พัน|หมื่น|แสน|%|เปอร์เซ็นต์|percent|baht|million)")
_RE_COUNT_AFTER = re.compile(
    r"\s?(?:หน่วยงาน|โครงการ|แผนงาน|กิจกรรม|รายการ|ราย|คน|ครั้ง|ปี|เดือน|วัน|ชั่วโมง|นาที|ข้อ|แห่ง|ระบบ|เรื่อง"
    r"|projects?|agencies|days?|months?|years?)"
)
_RE_COUNT_BEFORE = re.compile(r"(?:ข้อ|มาตรา|จำนวน|ทั้งหมด|หน้า|ที่|ละ|no|#)\s?$")
_APPLY_WORDS = ("ยื่น", "ขอ", "รับ", "เปิด", "ปิด", "งบ", "ทัน", "ส่ง")

_RELATIVE = (
    (re.compile(r"ปี(?:งบ(?:ประมาณ)?)?\s?นี้|\b(?:this|current) (?:fiscal )?year\b"), 0),
    (re.compile(r"(?:ปี(?:งบ(?:ประมาณ)?)?|รอบ(?:งบ)?)\s?(?:หน้า|ถัดไป)|\bnext (?:fiscal )?year\b|\bnext round\b"), 1),
    (
        re.compile(r"ปี(?:งบ(?:ประมาณ)?)?\s?(?:ที่แล้ว|ที่ผ่านมา|ก่อน)|\b(?:last|previous) (?:fiscal )?year\b"),
        -1,
    ),
)


def _read_number(text: str, m: re.Match[str], prev: tuple[int, str, int] | None) -> tuple[int, int, str] | None:
    """(year, start of the mention, how) for the number matched by m, or None when it is not a year.

    prev is (end, how, digit count) of the previous number read as a year, to continue ranges.
    """
    digits, start, end = m.group(), m.start(), m.end()
    if _RE_MONEY_AFTER.match(text, end) or len(digits) not in (2, 4):
        return None
    n = int(digits)
    before = text[max(0, start - 16) : start]
    cue = _RE_CUE.search(before)
    kind = cue.lastgroup if cue else None
    begin = start - (len(before) - cue.start()) if cue else start

    if prev is not None and not cue and _RE_RANGE_JOIN.fullmatch(text, prev[0], start) and prev[2] == len(digits):
        kind = "range:" + prev[1]  # second end of "2563-2565" / "ปี 63-65" reads like the first

    if len(digits) == 4:
        if _BE_MIN <= n <= _BE_MAX and kind != "ce":
            return n, begin, "be"
        if _CE_MIN <= n <= _CE_MAX and kind != "be":
            return n + BE_OFFSET, begin, "fy_ce" if kind in ("fiscal", "range:fy_ce") else "ce"
        return None

    # Two digits.
    fiscal_en = cue is not None and cue.group().strip() in ("fy", "fiscal year")
    if kind in ("fiscal", "year", "be", "range:be_short") and 50 <= n <= 99:
        return 2500 + n, begin, "be_short"
    if (fiscal_en or kind == "range:fy_ce") and n < 50:
        return 2000 + n + BE_OFFSET, begin, "fy_ce"
    if kind in ("ce", "range:ce") and n < 50:
        return 2000 + n + BE_OFFSET, begin, "ce"
    if kind is None and 60 <= n <= 99 and _standalone_short_year(text, start, end):
        return 2500 + n, begin, "be_short"
    return None


def _standalone_short_year(text: str, start: int, end: int) -> bool:
    """A bare "66" as a whole word in a question about applying or budgets, and not a count."""
    if start > 0 and not text[start - 1].isspace():
        return False
    if end < len(text) and text[end].isalnum():  # "66?" and "66," still stand alone
        return False
    if _RE_COUNT_AFTER.match(text, end) or _RE_COUNT_BEFORE.search(text[max(0, start - 12) : start]):
        return False
    return any(w in text for w in _APPLY_WORDS)


_RE_TWO_OR_FOUR = re.compile(r"(?<![\d.,])\d{2}(?:\d{2})?(?!\d)")


def may_name_years(text: str) -> bool:
    """False when the (normalized) text surely names no explicit year: no 4-digit number, and no 2-digit one
    that is 50 or more or follows a year cue. Cheap, for the thousands of knowledge variants with a number."""
    for m in _RE_TWO_OR_FOUR.finditer(text):
        if len(m.group()) == 4 or int(m.group()) >= 50 or _RE_CUE.search(text[max(0, m.start() - 16) : m.start()]):
            return True
    return False


def read_years(text: str, today: date, *, normalized: bool = False, relative: bool = True) -> list[YearMention]:
    """B.E. fiscal years mentioned in the text, in text order, each year once. `normalized`: the text already
    went through bot.thai.normalize (it is idempotent, but not free); `relative`: also read ปีนี้, next year."""
    if not normalized:
        text = normalize(text)
    found: list[tuple[int, YearMention]] = []
    current = fiscal_year_of(today)
    for pattern, delta in _RELATIVE if relative else ():
        for m in pattern.finditer(text):
            found.append((m.start(), YearMention(current + delta, m.group(), "relative")))

    prev: tuple[int, str, int] | None = None
    for m in _RE_NUMBER.finditer(text):
        read = _read_number(text, m, prev)
        if read is None:
            continue
        year, begin, how = read
        prev = (m.end(), how, len(m.group()))
        found.append((begin, YearMention(year, text[begin : m.end()], how)))

    found.sort(key=lambda item: item[0])
    seen: set[int] = set()
    mentions: list[YearMention] = []
    for _, mention in found:
        if mention.year not in seen:
            seen.add(mention.year)
            mentions.append(mention)
    return mentions


def first_year(text: str, today: date) -> int | None:
    """The first fiscal year mentioned, or None."""
    mentions = read_years(text, today)
    return mentions[0].year if mentions else None
