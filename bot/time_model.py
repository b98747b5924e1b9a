"""The assistant's time model: every way staff write a time, read into typed references to fiscal years.

FY N (B.E.) runs from 1 October of N-1 to 30 September of N; B.E. = C.E. + 543. `read_time` reads normalized
text (see bot.thai.normalize: lower-case, Thai digits as ASCII, Thai abbreviation dots gone, so "ต.ค." is "ตค"
and "พ.ศ." is "พศ") and gives one `TimeRef` per expression, with its span in that text.

What is read:
- Years. 4 digits 2500..2699 are B.E. ("be"); 1990..2156 are C.E.: after a fiscal cue (fy, fiscal year,
  financial year(s), budget year(s), ปีงบ, ปีงบประมาณ, งบ, งปม, the romanised ngob, ...) a fiscal year in C.E.
  ("fy_ce": FY2027 = financial year 2027 = FY 2570), otherwise a calendar year ("ce": 2027, ค.ศ. 2027, ปี 2027),
  whose `fiscal_year` is the same number (2570) and which touches two fiscal years. Two digits only after a cue
  (ปี, ปีงบ, งบปี, งปม, ngob, fy, fiscal / financial / budget year, พ.ศ., ค.ศ.): 50..99 are B.E. 25xx
  ("be_short": ngob 72 = FY 2572); after fy / fiscal, financial or budget year / ค.ศ., 00..49 are C.E. 20xx.
  An apostrophe marks a short year ("FY'71", "'71", "fy'23": "apostrophe"; a bare "'23" is not read). Thai number
  words after a year cue ("ปีงบเจ็ดสิบเอ็ด", "ปีงบประมาณสองพันห้าร้อยเจ็ดสิบ": "thai_words", converted by pythainlp
  only when the text holds a number word). English number words in a year's two halves, 2010..2099 ("twenty
  twenty-nine", "twenty twenty eight": a calendar year, "ce"; after fy / fiscal or financial year a fiscal year,
  "fy_ce"; not a bare "twenty twenty"). A bare two-digit 60..99 as a whole word counts only in a question about
  applying or budgets ("66 ยังยื่นได้ไหม").
  Ranges ("2563-2565", "ปี 63-65", "fy2022-2023") give one reference per end, the second read like the first.
  A 4-digit year and the next one after "/" (2 or 4 digits) or a dash (2 digits) name one fiscal year, the one
  that ends in the second ("pair", kind "fiscal_year"): 2027/28, 2027/2028, 2027-28, FY 2027/28, the 2027/28
  financial year = FY 2571 (it ends in September 2028); ปีงบ 2569/70 = FY 2570. Years that are not consecutive
  stay a range or a year ("2563-2565", "2027/29"), and so do a dash between two 4-digit years ("2022-2023") and
  two-digit pairs ("ปี 66/67").
  A B.E. year is a fiscal year in this domain, whatever the cue (ปีการศึกษา 2566 too); only ปีปฏิทิน / calendar
  year makes it a calendar year.
- Relative years ("relative"): ปีงบนี้ / ปีงบปัจจุบัน / FY ปัจจุบัน / current FY / this fiscal year (0), ปีงบหน้า /
  ปีงบฯ หน้า / ปีงบถัดไป / FY หน้า / next FY (+1), ปีงบถัดไปอีก / ปีหน้าโน้น / ปีงบถัดจากปีหน้า(อีกที) / the FY after
  next (+2), อีก 3 ปีงบ / อีกสามปีงบ / in 3 fiscal years / in 2 FYs / 2 FYs from now (+N), ปีงบที่แล้ว / ปีงบก่อนหน้า /
  FY ที่แล้ว / last FY / previous fiscal year (-1), สองปีงบก่อน / สองปีงบที่แล้ว / 2 ปีงบก่อนหน้านี้ / three FYs ago /
  the year before last (-N). Financial year and budget year read like fiscal year (the current financial year,
  next budget year, in 3 financial years). Plain ปีนี้ / ปีหน้า / ปีที่แล้ว / this year / next year mean fiscal years in this
  domain (kind "relative_fiscal"); only an explicit calendar year (ปีปฏิทินนี้, next calendar year) is
  "relative_calendar".
- Dates ("date"): 5/10/2569, 5/10/2026, 5-10-69, 2026-10-05, 5 ต.ค. 69, 5 ตุลาคม 2569, วันที่ 5 เดือนตุลาคม
  พ.ศ. 2569, วันที่สิบเอ็ดธันวาคม สองพันห้าร้อยหกสิบสอง, Oct 5, 2026, 5 October 2026. A date resolves to the
  fiscal year containing it (October onwards is the next one). Without a year ("5 ต.ค.", "Oct 5") it is the
  next such day on or after today ("date_no_year").
- Months ("month"): ก.พ. 70, กุมภาพันธ์ 2570, March 2027, mar 2027, and without a year (ก.พ., เดือนกุมภา,
  "in March") the next such month from today's month on ("month_no_year"). Thai full names, short names
  (มกรา .. ธันวา) and abbreviations (ม.ค. .. ธ.ค.), English names and abbreviations.
- Spans ("span"): two dates or months joined by -, –, ถึง, จนถึง, to, until, through (or "between .. and"), and
  day ranges ("1-15 ต.ค. 69"). A side without a year takes the other's; without any year it is the first such
  span that has not ended before today ("span_no_year"). `fiscal_years` lists every fiscal year it touches.
- Parts of a calendar year (kind "span"): ต้นปี / early / the beginning of = Jan-Mar, กลางปี / mid / the middle
  of = Apr-Sep, ปลายปี / สิ้นปี / late / the end of = Oct-Dec, of a relative calendar year (ต้นปีหน้า, ปลายปีนี้,
  สิ้นปีที่แล้ว, early next year, the end of this year: how "relative") or a written one (ต้นปี 2570, ปลายปี 70,
  mid-2027: how "span"). ต้นปีหน้า on 2026-11-21 is Jan-Mar 2027, FY 2570; ปลายปีหน้า is Oct-Dec 2027, FY 2571.
- Relative months (kind "month", how "relative", `day` the month's first day): เดือนนี้ / this month, เดือนหน้า /
  เดือนถัดไป / next month, เดือนที่แล้ว / เดือนก่อน / last month, อีก 2 เดือน / in two months / 2 months from now,
  2 เดือนที่แล้ว / 3 months ago (counts up to 12).
- A month, date or span without a year right before or after a year is one reference in that year: "พ.ย. ปีหน้า",
  "ต.ค. ปีนี้", "มีนาคมปีหน้า", "ปีหน้าเดือน ต.ค.", "October next year", "ต.ค. – ธ.ค. ปีหน้า" (plain ปี / year:
  that calendar year; how "relative" for a relative year), "ต.ค. ปีงบ 70", "ต.ค. ปีงบหน้า", "October FY2027" (a
  fiscal cue: that month of the fiscal year, so ต.ค. ปีงบ 70 is October 2569).

Kinds tell a caller what was written: "fiscal_year" and "relative_fiscal" name a fiscal year as one (prefer them
over a date beside them), "calendar_year" / "relative_calendar" a calendar year, "date" / "month" / "span" a time
within one. `how` == "relative" marks every reference resolved from a relative word (any kind).

What is deliberately not read:
- Counts and amounts: numbers before a money, percent or counting word (120 เครื่อง, 500 คน, 60 โครงการ,
  งบ 50 ล้าน, 70%, 2000 คน), parts of decimals or grouped numbers (2,409.3962, 10.30 น., คณะที่ 1.3), numbers
  after words that introduce an item (มาตรา 4, ข้อ 3, แนวทางที่ 2), phone numbers, and durations (3 ปี, อีก 2 ปี).
- Quarters and periods: ไตรมาส 1, Q1, "ย้อนหลัง 3 ปี", "3 เดือนที่ผ่านมา" (a period, not a year or a month);
  parts of a fiscal year (ปลายปีงบหน้า reads as ปีงบหน้า); ต้น / กลาง / สิ้น inside another word (เบื้องต้นปีหน้า,
  ส่วนกลางปีนี้, ทั้งสิ้นปีนี้ read only their ปีหน้า / ปีนี้); "too late this year".
- d/m/yy with a two-digit year under 50, d/m without a year, m/d/y (Thai staff write day first), other English
  number words for years ("two thousand twenty-seven", "twenty twenty"), a bare "'23".
- A bare "ก.พ." right after a word naming the Civil Service Commission (สำนักงาน ก.พ., ระเบียบ ก.พ., สอบ ก.พ.),
  and the English words "may" / "march" unless a day, a year or a preposition ("in May") makes them a month.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass, replace
from datetime import date

from pythainlp.util import thaiword_to_num

from bot.thai import normalize

__all__ = ["KINDS", "TimeRef", "follows_year_cue", "may_have_word_years", "read_time"]

KINDS = frozenset({"fiscal_year", "calendar_year", "date", "month", "span", "relative_fiscal", "relative_calendar"})

_BE = 543  # B.E. = C.E. + 543 (bot.years.BE_OFFSET; not imported, bot.years imports this module)
_BE_MIN, _BE_MAX = 2500, 2699
_CE_MIN, _CE_MAX = 1990, 2156  # the same span as 2533..2699 B.E.
_MAX_COUNT = 10  # "อีก 3 ปีงบ", "2 ปีที่แล้ว": larger counts are periods or ages, not fiscal years


@dataclass(frozen=True)
class TimeRef:
    kind: str  # one of KINDS
    fiscal_year: int  # the B.E. fiscal year it resolves to (a span: the fiscal year of its start)
    fiscal_years: tuple[int, ...]  # every fiscal year it touches, in order
    start: int  # its span in the text given
    end: int
    text: str  # text[start:end]
    # be, be_short, ce, fy_ce, apostrophe, pair, thai_words, relative, date(_no_year), month(_no_year), span(...)
    how: str
    day: date | None = None  # a date: that date; a month: its first day; a span: its first day
    until: date | None = None  # a span: its last day


def _fy(d: date) -> int:
    """B.E. fiscal year that contains the date (bot.years.fiscal_year_of)."""
    return d.year + _BE + (1 if d.month >= 10 else 0)


# --- shared pieces -------------------------------------------------------------------------------------

# A whole number: not a piece of 1.3 or 2,409.3962 (a trailing full stop is fine).
_RE_NUMBER = re.compile(r"(?<![\d.,])\d+(?!\d)(?![.,]\d)")
_FISCAL_CUES = (
    r"ปีงบประมาณ|ปีงบ|ปีงปม|งบประมาณปี|งบประมาณ|งปม|งบปี|งบ|(?<![a-z])fy|(?<![a-z])ngob"
    r"|(?:fiscal|financial|budget) years?|fiscal"
)
# English cues after which a two-digit 00..49 is C.E. 20xx ("fy 27", "financial year 27"); ngob is Thai (งบ).
_FISCAL_EN = frozenset(
    {"fy", "fiscal", "fiscal year", "fiscal years", "financial year", "financial years", "budget year", "budget years"}
)
# Cues right before a number (one space and an apostrophe allowed), longest first so ปีงบประมาณ wins over ปี.
_RE_CUE = re.compile(
    rf"(?:(?P<cal>ปีปฏิทิน|calendar year)|(?P<fiscal>(?:{_FISCAL_CUES})ฯ?)|(?P<year>ปี)|(?P<be>พศ)|(?P<ce>คศ))"
    r"\s?['’]?$"
)
_CUE_LOOKBACK = 18
_RE_FISCAL_BEFORE_BE = re.compile(rf"(?:{_FISCAL_CUES})ฯ?\s?$")
_RE_RANGE_JOIN = re.compile(r"\s?(?:-|–|—|ถึง|to|/)\s?")
# A fiscal year as two consecutive years, after a 4-digit first: "2027/28", "2027/2028", "2027-28", "2569/70".
# A dash takes only two digits after it: "2022-2023" stays a range. No date's piece follows ("2027/28/5"); another
# year may ("2027/28-2029/30").
_RE_PAIR_SECOND = re.compile(
    r"\s?(?:/\s?(?P<slash>\d{4}|\d{2})|[-–—]\s?(?P<dash>\d{2}))(?!\d)(?![.,]\d)(?![/-]\d{1,2}(?!\d))"
)
_RE_PAIR_CUE_AFTER = re.compile(r"\s?(?:(?:fiscal|financial|budget) years?|fy)(?![a-z])")
_RE_MONEY_AFTER = re.compile(r"\s?(?:ล้าน|บาท|พัน|หมื่น|แสน|%|เปอร์เซ็นต์|percent|baht|million)")
_RE_COUNT_AFTER = re.compile(
    r"\s?(?:หน่วยงาน|โครงการ|แผนงาน|กิจกรรม|รายการ|ราย|คน|ครั้ง|ปี|เดือน|วัน|ชั่วโมง|นาที|ข้อ|แห่ง|ระบบ|เรื่อง"
    r"|เครื่อง|ชุด|ชิ้น|คัน|ตัว|projects?|agencies|days?|months?|years?|people|units?)"
)
# A 4-digit number needs a clear count to stop being a year ("2000 คน"); "2570 วันไหน" still names a year.
_RE_COUNT_AFTER_4 = re.compile(
    r"\s?(?:คน|เครื่อง|ราย(?!ละเอียด)|หน่วยงาน|โครงการ|แผนงาน|กิจกรรม|แห่ง|ชุด|ชิ้น|คัน|ตัว|ครั้ง"
    r"|people|users?|units?|projects?|agencies|items?)"
)
# After a month only a unit makes the number a count ("ต.ค. 60 คน"); "ธ.ค. 2562 เรื่องอะไร" is a date.
_RE_UNIT_AFTER = re.compile(r"\s?(?:คน|เครื่อง|ชุด|ชิ้น|คัน|ตัว|ราย(?!ละเอียด)|แห่ง|ครั้ง|people|units?)")
# ละ is "per" (ปีละ, ร้อยละ), but not the end of และ ("and": "2566 และ 2570" are two years).
_RE_COUNT_BEFORE = re.compile(r"(?:ข้อ|มาตรา|จำนวน|ทั้งหมด|หน้า|ที่|(?<!แ)ละ|no|#)\s?$")
_RE_COUNT_BEFORE_4 = re.compile(r"(?:จำนวน|ทั้งหมด|รวม|กว่า|(?<!แ)ละ|no\.?|#)\s?$")
_APPLY_WORDS = ("ยื่น", "ขอ", "รับ", "เปิด", "ปิด", "งบ", "ทัน", "ส่ง")
# Thai phone numbers (02-612-6000, 081 234 5678, +66 2 612 6000): none of their digits is a year.
_RE_PHONE = re.compile(r"(?<![\d.,])(?:\+66|0)[- ]?\d{1,2}(?:[- ]?\d{3,4}){1,2}(?!\d)")

# Thai number words (pythainlp reads them); the possessive run never stops inside a word to make a shorter one.
_NUM_WORD = r"(?:หนึ่ง|เอ็ด|สอง|ยี่|สาม|สี่|ห้า|หก|เจ็ด|แปด|เก้า|สิบ|ร้อย|พัน)++(?![ะ-ฺ็-๎])"
# Cheap gate: no pythainlp call, and no word-year scan, unless a number word is there at all.
_RE_NUM_WORD_HINT = re.compile(r"หนึ่ง|สอง|สาม|สี่|ห้า|หก|เจ็ด|แปด|เก้า|สิบ")
_RE_WORD_YEAR = re.compile(
    r"(?:(?P<cal>ปีปฏิทิน)|(?P<fiscal>(?:ปีงบประมาณ|ปีงบ|งปม|งบปี|(?<![a-z])fy)ฯ?)|(?P<year>ปี)|(?P<be>พศ)|(?P<ce>คศ))"
    rf"\s?(?:พศ\s?)?(?P<n>{_NUM_WORD})"
)
_EN_NUMBERS = {
    "a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip


@functools.lru_cache(maxsize=256)
def _thai_number(words: str) -> int | None:
    try:
        return thaiword_to_num(words)
    except ValueError:
        return None


def _count(word: str) -> int | None:
    """A small count in digits, Thai words or English words (อีก 3 / อีกสาม / three)."""
    if word.isdigit():
        return int(word)
    if word in _EN_NUMBERS:
        return _EN_NUMBERS[word]
    return _thai_number(word)


def follows_year_cue(text: str, pos: int) -> bool:
    """Does a year cue (ปี, ปีงบ, fy, fy', พ.ศ., ค.ศ., ...) end right before pos? Cheap."""
    return _RE_CUE.search(text, max(0, pos - _CUE_LOOKBACK), pos) is not None


def may_have_word_years(text: str) -> bool:
    """Could the normalized text name a year in Thai number words (ปีงบเจ็ดสิบเอ็ด)? Cheap."""
    return _RE_NUM_WORD_HINT.search(text) is not None and _RE_WORD_YEAR.search(text) is not None


# --- years ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Year:
    year: int  # B.E.: the fiscal year, or the calendar year's own number
    begin: int
    how: str
    reading: str  # be, be_short, fy_ce or ce: how the next end of a range is read
    calendar: bool
    end: int | None = None  # a pair ("2027/28"): where its second year (and a cue after it) ends


def _year_ref(text: str, y: _Year, end: int) -> TimeRef:
    kind = "calendar_year" if y.calendar else "fiscal_year"
    fys = (y.year, y.year + 1) if y.calendar else (y.year,)  # a calendar year's Oct-Dec is the next FY
    return TimeRef(kind, y.year, fys, y.begin, end, text[y.begin : end], y.how)


def _read_number(text: str, m: re.Match[str], prev: tuple[int, str, int, bool] | None) -> _Year | None:
    """The year the number matched by m names, or None. prev is (end, reading, digit count, calendar) of the
    previous number read as a year, to continue ranges."""
    digits, start, end = m.group(), m.start(), m.end()
    if len(digits) not in (2, 4) or _RE_MONEY_AFTER.match(text, end):
        return None
    n = int(digits)
    apostrophe = start > 0 and text[start - 1] in "'’"
    cue = _RE_CUE.search(text, max(0, start - _CUE_LOOKBACK), start)
    kind = cue.lastgroup if cue else None
    begin = cue.start() if cue else start - apostrophe
    if kind == "be":  # "ปีงบประมาณ พ.ศ. 2566": the fiscal cue belongs to the reference too
        fiscal_cue = _RE_FISCAL_BEFORE_BE.search(text, max(0, begin - _CUE_LOOKBACK), begin)
        begin = fiscal_cue.start() if fiscal_cue else begin
    calendar_cue = kind == "cal"

    if prev is not None and not cue and prev[2] == len(digits) and _RE_RANGE_JOIN.fullmatch(text, prev[0], start):
        kind, calendar_cue = "range:" + prev[1], prev[3]  # the second end of "2563-2565" reads like the first

    if len(digits) == 4:
        if kind is None and (
            _RE_COUNT_AFTER_4.match(text, end) or _RE_COUNT_BEFORE_4.search(text, max(0, start - 10), start)
        ):
            return None  # "2000 คน", "จำนวน 2566"
        if kind in (None, "fiscal", "year", "be", "ce") and (pair := _pair(text, end, n, kind)) is not None:
            return _Year(pair[0], begin, "pair", "pair", False, pair[1])
        if _BE_MIN <= n <= _BE_MAX and kind != "ce":
            return _Year(n, begin, "be", "be", calendar_cue)
        if _CE_MIN <= n <= _CE_MAX and kind != "be":
            fiscal = kind in ("fiscal", "range:fy_ce")
            return _Year(n + _BE, begin, "fy_ce" if fiscal else "ce", "fy_ce" if fiscal else "ce", not fiscal)
        return None

    how = "apostrophe" if apostrophe else None
    fiscal_en = cue is not None and cue.group().rstrip(" '’") in _FISCAL_EN
    if kind in ("fiscal", "year", "be", "cal", "range:be_short") and 50 <= n <= 99:
        return _Year(2500 + n, begin, how or "be_short", "be_short", calendar_cue)
    if (fiscal_en or kind == "range:fy_ce") and n < 50:
        return _Year(2000 + n + _BE, begin, how or "fy_ce", "fy_ce", False)
    if kind in ("ce", "range:ce") and n < 50:
        return _Year(2000 + n + _BE, begin, how or "ce", "ce", True)
    if kind is None and apostrophe and 50 <= n <= 99:
        return _Year(2500 + n, begin, "apostrophe", "be_short", False)
    if kind is None and not apostrophe and 60 <= n <= 99 and _standalone_short_year(text, start, end):
        return _Year(2500 + n, begin, "be_short", "be_short", False)
    return None


def _pair(text: str, end: int, n: int, kind: str | None) -> tuple[int, int] | None:
    """(B.E. fiscal year, end) of a fiscal year written as two consecutive years whose first, n, ends at end:
    it is the fiscal year that ends in the second ("2027/28": FY 2571; "2569/70": FY 2570)."""
    if end >= len(text) or text[end] not in " /-–—":  # cheap: most years are not pairs
        return None
    m = _RE_PAIR_SECOND.match(text, end)
    if m is None:
        return None
    second = m.group("slash") or m.group("dash")
    if int(second) != (n + 1 if len(second) == 4 else (n + 1) % 100):
        return None  # "2563/65", "2027-29": not one fiscal year
    if _BE_MIN <= n < _BE_MAX and kind != "ce":
        fy = n + 1
    elif _CE_MIN <= n < _CE_MAX and kind != "be":
        fy = n + 1 + _BE
    else:
        return None
    if _RE_MONEY_AFTER.match(text, m.end()) or _RE_COUNT_AFTER_4.match(text, m.end()):
        return None
    cue = _RE_PAIR_CUE_AFTER.match(text, m.end())  # "the 2027/28 financial year"
    return fy, cue.end() if cue else m.end()


def _standalone_short_year(text: str, start: int, end: int) -> bool:
    """A bare "66" as a whole word in a question about applying or budgets, and not a count."""
    if start > 0 and not text[start - 1].isspace():
        return False
    if end < len(text) and text[end].isalnum():  # "66?" and "66," still stand alone
        return False
    if _RE_COUNT_AFTER.match(text, end) or _RE_COUNT_BEFORE.search(text, max(0, start - 12), start):
        return False
    return any(w in text for w in _APPLY_WORDS)


def _years(text: str, out: list[tuple[int, int, object]]) -> None:
    phones = [(p.start(), p.end()) for p in _RE_PHONE.finditer(text)] if "0" in text or "+" in text else []
    prev: tuple[int, str, int, bool] | None = None
    taken = 0  # the end of a pair read: its second year is no year of its own
    for m in _RE_NUMBER.finditer(text):
        if m.start() < taken or any(a <= m.start() < b for a, b in phones):
            continue
        y = _read_number(text, m, prev)
        if y is None:
            continue
        end = m.end() if y.end is None else y.end
        # a pair ends no range: "2027/28-2029/30" is two pairs
        prev = None if y.end is not None else (end, y.reading, len(m.group()), y.calendar)
        taken = end
        out.append((y.begin, end, _year_ref(text, y, end)))


def _word_years(text: str, out: list[tuple[int, int, object]]) -> None:
    """ปีงบเจ็ดสิบเอ็ด, ปีงบประมาณสองพันห้าร้อยเจ็ดสิบ, ปีหกสิบเก้า."""
    for m in _RE_WORD_YEAR.finditer(text):
        n = _thai_number(m.group("n"))
        if n is None or _RE_MONEY_AFTER.match(text, m.end()):
            continue
        kind = next(k for k in ("cal", "fiscal", "year", "be", "ce") if m.group(k) is not None)
        y: _Year | None = None
        if (50 <= n <= 99 and kind != "ce") or (_BE_MIN <= n <= _BE_MAX and kind != "ce"):
            y = _Year(n if n > 99 else 2500 + n, m.start(), "thai_words", "be", kind == "cal")
        elif _CE_MIN <= n <= _CE_MAX and kind != "be":
            y = _Year(n + _BE, m.start(), "thai_words", "ce", kind != "fiscal")
        elif n < 50 and kind == "ce":  # ค.ศ. ยี่สิบเจ็ด
            y = _Year(2000 + n + _BE, m.start(), "thai_words", "ce", True)
        if y is not None:
            out.append((m.start(), m.end(), _year_ref(text, y, m.end())))


# --- relative years ------------------------------------------------------------------------------------

_FY_TH = r"ปี(?:งบ(?:ประมาณ)?)?ฯ?"  # ปี, ปีงบ, ปีงบประมาณ, ปีงบฯ
_FY_ANY = rf"(?:{_FY_TH}|fy)"
_FY_EN = r"(?:fiscal year|financial year|budget year|fy|year)"
# A count in words is written against ปี ("สามปีงบก่อน"); "เรื่องหนึ่ง ปีงบที่แล้ว" is not one year back. Thai runs
# words together ("ของสามปีงบก่อน"), but a count that starts with ร้อย or พัน right after a letter is the end of
# another word (เรียบร้อย, ผูกพัน): read as a count it would hide the ปีที่แล้ว after it.
_COUNT_WORD = rf"(?:(?!ร้อย|พัน)|(?<![\u0e01-\u0e4e])){_NUM_WORD}"
_COUNT = rf"(?P<n>\d{{1,2}}|{_COUNT_WORD}(?!\s))"
_COUNT_EN = r"(?P<n>\d{1,2}|a|one|two|three|four|five|six|seven|eight|nine|ten)"
# (pattern, delta, calendar): a counted pattern's delta is the sign, its group n the count. At one position the
# first alternative that matches wins, so longer phrases come first (ปีหน้าโน้น before ปีหน้า). No pattern
# starts with a lookbehind, which would keep the engine from skipping quickly to the characters that can start
# one; word boundaries are checked after the match (_relative_boundary_ok).
_RELATIVE_PATTERNS: tuple[tuple[str, int, bool], ...] = (
    (rf"อีก\s?{_COUNT}\s?ปีงบ(?:ประมาณ)?ฯ?(?!\s?(?:นี้|หน้า|ปัจจุบัน|ถัดไป|ที่แล้ว|ก่อน))", +1, False),
    # "2 ปีงบก่อนหน้านี้" is two back: the count must win over the uncounted ปีงบก่อนหน้า inside it.
    (rf"{_COUNT}\s?{_FY_ANY}\s?(?:ที่แล้ว|ก่อนหน้า(?:นี้)?|ก่อน(?!\s?ๆ))", -1, False),
    # "ปีงบถัดจากปีหน้า(อีกที)": one after next year; "ปีงบถัดจากปีนี้": next year.
    (rf"{_FY_ANY}\s?ถัด(?:ไป)?จาก\s?{_FY_ANY}\s?(?:หน้า|ถัดไป)(?:\s?อีก\s?(?:ที|หน|ครั้ง))?", 2, False),
    (rf"{_FY_ANY}\s?ถัด(?:ไป)?จาก\s?{_FY_ANY}\s?(?:นี้|ปัจจุบัน)", 1, False),
    (rf"in {_COUNT_EN} (?:(?:fiscal|financial|budget) years?|fys)(?![a-z])", +1, False),
    (rf"{_COUNT_EN} (?:(?:fiscal|financial|budget) )?(?:years?|fys?) from now(?![a-z])", +1, False),
    (rf"{_COUNT_EN} (?:(?:fiscal|financial|budget) )?(?:years?|fys?) ago(?![a-z])", -1, False),
    (r"ปีปฏิทิน\s?นี้|(?:this|current) calendar year(?![a-z])", 0, True),
    (r"ปีปฏิทิน\s?(?:หน้า|ถัดไป)|next calendar year(?![a-z])", 1, True),
    (r"ปีปฏิทิน\s?(?:ที่แล้ว|ก่อน)|(?:last|previous) calendar year(?![a-z])", -1, True),
    (rf"{_FY_ANY}\s?(?:หน้า|ถัดไป|ต่อไป)\s?(?:โน้น|โน่น|อีก(?!\s?(?:\d|ครั้ง|รอบ|ที|หน|ปี)))", 2, False),
    (r"(?:the )?(?:fiscal year|financial year|budget year|fy|year|one) after next(?![a-z])", 2, False),
    (r"(?:the )?(?:fiscal year|financial year|budget year|fy|year) before last(?![a-z])", -2, False),
    (rf"{_FY_ANY}\s?(?:นี้|ปัจจุบัน)", 0, False),
    (rf"(?:this|current|the current|present) {_FY_EN}(?![a-z])", 0, False),
    (rf"{_FY_ANY}\s?(?:หน้า|ถัดไป|ต่อไป)|รอบ(?:งบ)?\s?(?:หน้า|ถัดไป)", 1, False),
    (rf"(?:next|upcoming|the coming|coming) {_FY_EN}(?![a-z])|next round(?![a-z])", 1, False),
    (rf"{_FY_ANY}\s?(?:ที่แล้ว|ที่ผ่านมา|ก่อนหน้า(?:นี้)?|กลาย|ก่อน(?!\s?ๆ))", -1, False),
    (rf"(?:last|previous|prior) {_FY_EN}(?![a-z])", -1, False),
)
_RE_RELATIVE = re.compile(
    "|".join(f"(?P<r{i}>{p.replace('(?P<n>', f'(?P<n{i}>')})" for i, (p, _, _) in enumerate(_RELATIVE_PATTERNS))
)
# "ทุกปีก่อน" (every year, before ...) and "หลายปีก่อน" (years ago) are not last year.
_RE_NOT_LAST_YEAR = re.compile(r"(?:ทุก|หลาย)\s?$")
_RE_RELATIVE_HINT = re.compile(r"ปี|year|fy|รอบ|round|after next")


def _relative_boundary_ok(text: str, m: re.Match[str], delta: int) -> bool:
    start = m.start()
    if start > 0 and text[start].isascii() and text[start].isalnum() and text[start - 1].isalnum():
        return False  # "xfy นี้", "12 ปีก่อน" read from its "2"
    if start > 0 and text[start].isdigit() and text[start - 1] in ".,":
        return False  # "1.5 ปีที่แล้ว"
    return not (delta == -1 and text[start] == "ป" and _RE_NOT_LAST_YEAR.search(text, max(0, start - 5), start))


def _relatives(text: str, today: date, out: list[tuple[int, int, object]]) -> None:
    if not _RE_RELATIVE_HINT.search(text):
        return
    current, this_year = _fy(today), today.year + _BE
    for m in _RE_RELATIVE.finditer(text):
        i = int((m.lastgroup or "r0")[1:])
        _, delta, calendar_year = _RELATIVE_PATTERNS[i]
        if not _relative_boundary_ok(text, m, delta):
            continue
        count = m.group(f"n{i}") if f"n{i}" in _RE_RELATIVE.groupindex else None
        if count is not None:
            n = _count(count)
            if n is None or not 1 <= n <= _MAX_COUNT:
                out.append((m.start(), m.end(), None))  # "60 ปีที่แล้ว": an age; it blocks the plain reading
                continue
            delta *= n
        if calendar_year:
            y = this_year + delta
            ref = TimeRef("relative_calendar", y, (y, y + 1), m.start(), m.end(), m.group(), "relative")
        else:
            fy = current + delta
            ref = TimeRef("relative_fiscal", fy, (fy,), m.start(), m.end(), m.group(), "relative")
        out.append((m.start(), m.end(), ref))


# --- dates and months ----------------------------------------------------------------------------------

# Thai names after normalize (no dots): full, short, abbreviated; common misspellings too.
_TH_MONTHS: dict[int, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    1: (("มกราคม",), ("มกรา",), ("มค",)),
    2: (("กุมภาพันธ์", "กุมภาพันธ", "กุมภาพัน"), ("กุมภา",), ("กพ",)),
    3: (("มีนาคม",), ("มีนา",), ("มีค",)),
    4: (("เมษายน",), ("เมษา",), ("เมย",)),
    5: (("พฤษภาคม",), ("พฤษภา",), ("พค",)),
    6: (("มิถุนายน",), ("มิถุนา",), ("มิย",)),
    7: (("กรกฎาคม", "กรกฏาคม"), ("กรกฎา", "กรกฏา"), ("กค",)),
    8: (("สิงหาคม",), ("สิงหา",), ("สค",)),
    9: (("กันยายน",), ("กันยา",), ("กย",)),
    10: (("ตุลาคม",), ("ตุลา",), ("ตค",)),
    11: (("พฤศจิกายน",), ("พฤศจิกา",), ("พย",)),
    12: (("ธันวาคม",), ("ธันวา",), ("ธค",)),
}
_EN_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan"), 2: ("february", "feb"), 3: ("march", "mar"), 4: ("april", "apr"), 5: ("may",),
    6: ("june", "jun"), 7: ("july", "jul"), 8: ("august", "aug"), 9: ("september", "sept", "sep"),
    10: ("october", "oct"), 11: ("november", "nov"), 12: ("december", "dec"),
}  # fmt: skip
_FULL, _SHORT, _ABBR, _EN, _EN_AMBIGUOUS = range(5)
_MONTH_FORMS: dict[str, tuple[int, int]] = {}
for _month, _forms in _TH_MONTHS.items():
    for _cls, _names in zip((_FULL, _SHORT, _ABBR), _forms, strict=True):
        _MONTH_FORMS.update({name: (_month, _cls) for name in _names})
for _month, _names in _EN_MONTHS.items():
    _MONTH_FORMS.update({name: (_month, _EN_AMBIGUOUS if name in ("may", "march", "mar") else _EN) for name in _names})


def _alternation(names: list[str]) -> str:
    return "|".join(sorted(names, key=len, reverse=True))  # longest first: ตุลาคม before ตุลา


_RE_MONTH = re.compile(
    f"(?P<th>{_alternation([n for n in _MONTH_FORMS if not n.isascii()])})"
    f"|(?<![a-z])(?P<en>{_alternation([n for n in _MONTH_FORMS if n.isascii()])})(?![a-z])\\.?"
)
_THAI_CHAR = re.compile("[\u0e01-\u0e4e]")
# Words a short name or abbreviation may run into without a space ("เดือนตค", "กพนี้", "ตุลาปีหน้า").
_RE_MONTH_CUE_BEFORE = re.compile(r"(?:เดือน|ภายใน|ช่วง|ถึง|ตั้งแต่|ก่อน|หลัง|สิ้น|ต้น|กลาง|ปลาย|ใน|จน|วันที่|ประจำ)$")
_RE_MONTH_FOLLOW = re.compile(
    r"ปี|นี้|หน้า|ถึง|ที่|ครับ|ค่ะ|คะ|นะ|ไหม|มั้ย|หรือ|และ|ก็|จะ|ได้|ยัง|แล้ว|ล่ะ|ละ|จน|เป็น|พศ|คศ|ของ|เลย|เท่านั้น"
)
# ก.พ. is also the Civil Service Commission: a bare "ก.พ." after these words names the office, not February.
_RE_OCSC_BEFORE = re.compile(
    r"(?:สำนักงาน|ระเบียบ|มติ|กรรมการ|หนังสือ|ประกาศ|หลักเกณฑ์|ตาม|ข้าราชการ|เลขาธิการ|ของ|จาก|โดย|สอบ|ผ่าน|อนุ"
    r"|ที่ประชุม|เวียน|แจ้ง|กฎ)\s?$"
)
_RE_OCSC_AFTER = re.compile(r"\s?(?:กำหนด|รับรอง|อนุมัติ|ว\s?\d)")
# "may" and "march" are English words too: a month only with a day, a year or a preposition before it.
_RE_EN_MONTH_CUE_BEFORE = re.compile(
    r"(?:in|by|until|till|before|after|from|since|during|of|early|late|mid|end of|through|to|-|–)\s?$"
)
_RE_DAY_BEFORE = re.compile(
    r"(?:(?<![\d.,/:])(?P<first>\d{1,2})\s?(?:-|–|ถึง)\s?)?(?<![\d.,/:])(?P<d>\d{1,2})(?:st|nd|rd|th)?\s?(?:of\s)?$"
    r"|วันที่\s?(?P<dw>\d{1,2})\s?เดือน\s?$"
)
_RE_DAY_AFTER = re.compile(r"\s?(?P<d>\d{1,2})(?:st|nd|rd|th)?(?!\d)(?![.:%]\d|,\d)")
_RE_YEAR_AFTER = re.compile(
    r"\s?,?\s?(?:(?:ปี|year)\s?)?(?:(?P<cue>พศ|คศ|be|ad|ce)\.?\s?)?(?P<apos>['’])?(?P<y>\d{4}|\d{2})(?!\d)(?![.,]\d)"
)
_RE_WORD_DAY_BEFORE = re.compile(rf"(?:วันที่\s?)?(?P<n>{_NUM_WORD})\s?$")
_RE_WORD_YEAR_AFTER = re.compile(rf"\s?(?:ปี\s?)?(?:พศ\s?)?(?P<n>{_NUM_WORD})")
_RE_NUM_DATE = re.compile(
    r"(?<![\d.,/:-])(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})(?![\d/-])"
)
_RE_ISO_DATE = re.compile(r"(?<![\d.,/:-])(?P<y>\d{4})(?P<sep>[/-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\d/-])")
_RE_SPAN_JOIN = re.compile(
    r"\s?(?:-|–|—|~|(?:ไป)?(?:จน)?ถึง(?:เดือน|วันที่)?|to|until|till|through|thru)\s?(?:วันที่\s?|เดือน\s?)?"
)
_RE_SPAN_AND = re.compile(r"\s?(?:and|และ)\s?")
_RE_BETWEEN = re.compile(r"(?:between|ระหว่าง)\s?(?:วันที่\s?|เดือน\s?)?$")


@dataclass(frozen=True)
class _When:
    """A date or month as written, before spans are joined and missing years are filled in."""

    start: int
    end: int
    month: int
    day: int | None  # None: the whole month
    year: int | None  # C.E.; None: not written
    first_day: int | None = None  # a day range "1-15 ต.ค.": its first day


def _year_of_digits(y: str, cue: str | None, apostrophe: bool) -> int | None:
    """The C.E. year a date's or month's year is written as: 2569, 2026, 69, '26, ค.ศ. 2026."""
    n = int(y)
    be_only, ce_only = cue in ("พศ", "be"), cue in ("คศ", "ad", "ce")
    if len(y) == 4:
        if _BE_MIN <= n <= _BE_MAX and not ce_only:
            return n - _BE
        if _CE_MIN <= n <= _CE_MAX and not be_only:
            return n
        return None
    if 50 <= n <= 99 and not ce_only:
        return 2500 + n - _BE
    if n < 50 and (apostrophe or ce_only) and not be_only:
        return 2000 + n
    return None


def _year_after(text: str, pos: int) -> tuple[int, int] | None:
    """(C.E. year, end) of a year written right after a month, or None."""
    m = _RE_YEAR_AFTER.match(text, pos)
    if m is None or _RE_MONEY_AFTER.match(text, m.end()) or _RE_UNIT_AFTER.match(text, m.end()):
        return None
    year = _year_of_digits(m.group("y"), m.group("cue"), m.group("apos") is not None)
    return None if year is None else (year, m.end())


def _valid_day(year: int | None, month: int, day: int) -> bool:
    if not 1 <= day <= 31:
        return False
    return day <= (calendar.monthrange(year, month)[1] if year is not None else (29 if month == 2 else 31))


_RE_YEAR_AFTER_ABBR = re.compile(r"\s?(?:\d{2}|\d{4})(?!\d)")


def _month_name_ok(text: str, m: re.Match[str], cls: int) -> bool:
    """Is this month name a word of its own (not the ตค of ตคร, the มค of สมควร, the ตุลา of ตุลาการ)?"""
    start, end = m.start(), m.end()
    if cls in (_SHORT, _ABBR) and end < len(text) and _THAI_CHAR.match(text, end):
        if not _RE_MONTH_FOLLOW.match(text, end):
            return False
    if cls == _ABBR and start > 0 and _THAI_CHAR.match(text, start - 1):
        # Glued to the word before it, an abbreviation is a month after a cue word, or when a year follows it
        # ("แล้วตค70ล่ะ"): a run of letters followed by a number is rarely anything else.
        return (
            _RE_MONTH_CUE_BEFORE.search(text, max(0, start - 8), start) is not None
            or _RE_YEAR_AFTER_ABBR.match(text, end) is not None
        )
    return True


def _word_day_before(text: str, start: int) -> tuple[int, int] | None:
    """(day, start) of a day in Thai words right before a month: "วันที่สิบเอ็ดธันวาคม"."""
    m = _RE_WORD_DAY_BEFORE.search(text, max(0, start - 24), start)
    n = _thai_number(m.group("n")) if m else None
    return (n, m.start()) if m and n is not None and 1 <= n <= 31 else None


def _word_year_after(text: str, pos: int) -> tuple[int, int] | None:
    """(C.E. year, end) of a year in Thai words right after a month: "ธันวาคม สองพันห้าร้อยหกสิบสอง"."""
    m = _RE_WORD_YEAR_AFTER.match(text, pos)
    n = _thai_number(m.group("n")) if m else None
    if m is None or n is None:
        return None
    if 50 <= n <= 99:
        n += 2500
    if _BE_MIN <= n <= _BE_MAX:
        return n - _BE, m.end()
    return (n, m.end()) if _CE_MIN <= n <= _CE_MAX else None


def _months(text: str, out: list[tuple[int, int, object]], words: bool) -> None:
    """Dates and months written with a month name; `words`: the text has Thai number words (days, years)."""
    for m in _RE_MONTH.finditer(text):
        month, cls = _MONTH_FORMS[m.group("th") or m.group("en")]
        if not _month_name_ok(text, m, cls):
            continue
        start, end = m.start(), m.end()
        day: int | None = None
        first: int | None = None
        before = _RE_DAY_BEFORE.search(text, max(0, start - 16), start)
        if before is not None:
            day = int(before.group("d") or before.group("dw"))
            first = int(before.group("first")) if before.group("first") else None
            start = before.start()
        elif cls in (_EN, _EN_AMBIGUOUS):
            after = _RE_DAY_AFTER.match(text, end)
            if after is not None and 1 <= int(after.group("d")) <= 31:
                day, end = int(after.group("d")), after.end()
        elif words and (word_day := _word_day_before(text, start)) is not None:
            day, start = word_day
        year_end = _year_after(text, end) or (_word_year_after(text, end) if words else None)
        year = year_end[0] if year_end else None
        if year_end:
            end = year_end[1]
        if day is None and year is None:
            if cls == _EN_AMBIGUOUS and not _RE_EN_MONTH_CUE_BEFORE.search(text, max(0, start - 8), start):
                continue  # "may i apply"
            if (
                month == 2
                and cls == _ABBR
                and (_RE_OCSC_BEFORE.search(text, max(0, start - 14), start) or _RE_OCSC_AFTER.match(text, end))
            ):
                continue  # สำนักงาน ก.พ.
        if day is not None and not _valid_day(year, month, day):
            if before is None:
                continue
            day, first, start = None, None, m.start()  # "31 เม.ย. 70": still the month
        if first is not None and (day is None or first >= day) and before is not None:
            first, start = None, before.start("d")  # "15-1 ต.ค.": only the day next to the month
        out.append((start, end, _When(start, end, month, day, year, first)))


def _numeric_dates(text: str, out: list[tuple[int, int, object]]) -> None:
    """5/10/2569, 5-10-69, 5/10/2026 (day first, as Thai staff write) and 2026-10-05."""
    if "/" not in text and "-" not in text and "." not in text:
        return
    for pattern in (_RE_NUM_DATE, _RE_ISO_DATE):
        for m in pattern.finditer(text):
            y = m.group("y")
            if m.group("sep") == "." and len(y) != 4:
                continue  # 1.3.69 is more likely a section number
            year = _year_of_digits(y, None, False)
            month, day = int(m.group("m")), int(m.group("d"))
            if year is None or not 1 <= month <= 12 or not _valid_day(year, month, day):
                continue
            out.append((m.start(), m.end(), _When(m.start(), m.end(), month, day, year)))


def _bounds(w: _When, year: int) -> tuple[date, date] | None:
    """First and last day of what w names in that C.E. year, or None (29 Feb of a common year)."""
    try:
        if w.day is None:
            return date(year, w.month, 1), date(year, w.month, calendar.monthrange(year, w.month)[1])
        return date(year, w.month, w.first_day or w.day), date(year, w.month, w.day)
    except ValueError:
        return None


def _upcoming(w: _When, today: date) -> tuple[date, date] | None:
    """Without a year: the next occurrence that has not ended before today (this month counts)."""
    for year in range(today.year, min(today.year + 9, 10000)):
        b = _bounds(w, year)
        if b is not None and b[1] >= today:
            return b
    return None


def _after(w: _When, first: tuple[date, date] | None) -> tuple[date, date] | None:
    """w in the year of `first`, or the next year when it would end before `first` starts."""
    if first is None:
        return None
    b = _bounds(w, first[0].year)
    return b if b is None or b[1] >= first[0] else _bounds(w, first[0].year + 1)


def _span_bounds(a: _When, b: _When, today: date) -> tuple[date, date] | None:
    """A span's first and last day; a side without a year takes the other's (rolled so the span runs forward)."""
    if a.year is not None and b.year is not None:
        first, last = _bounds(a, a.year), _bounds(b, b.year)
    elif b.year is not None:  # "ต.ค. – ธ.ค. 70", "พ.ย. – ก.พ. 71"
        last = _bounds(b, b.year)
        first = _bounds(a, b.year)
        if first is not None and last is not None and first[0] > last[0]:
            first = _bounds(a, b.year - 1)
    elif a.year is not None:  # "ต.ค. 70 – มี.ค."
        first = _bounds(a, a.year)
        last = _after(b, first)
    else:  # "ต.ค. – มี.ค.": the first such span that has not ended before today (it may be under way)
        for year in range(today.year - 1, min(today.year + 9, 10000)):
            first = _bounds(a, year)
            last = _after(b, first)
            if last is not None and last[1] >= today:
                break
        else:
            return None
    if first is None or last is None or last[1] < first[0]:
        return None
    return first[0], last[1]


def _span_ref(text: str, start: int, end: int, first: date, last: date, how: str) -> TimeRef:
    fys = tuple(range(_fy(first), _fy(last) + 1))
    return TimeRef("span", fys[0], fys, start, end, text[start:end], how, first, last)


def _when_ref(text: str, w: _When, today: date) -> TimeRef | None:
    b = _bounds(w, w.year) if w.year is not None else _upcoming(w, today)
    if b is None:
        return None
    suffix = "" if w.year is not None else "_no_year"
    if w.first_day is not None:
        return _span_ref(text, w.start, w.end, b[0], b[1], "span" + suffix)
    kind = "month" if w.day is None else "date"
    fy = _fy(b[0])
    return TimeRef(kind, fy, (fy,), w.start, w.end, text[w.start : w.end], kind + suffix, b[0])


# --- parts of years, relative months, years in English words ------------------------------------------

# Parts of a calendar year: early is Jan-Mar, mid Apr-Sep, late (and the end of a year) Oct-Dec.
_PART_MONTHS = {"early": (1, 3), "mid": (4, 9), "late": (10, 12)}
_RE_YEAR_PART = re.compile(
    r"(?:(?P<early>ต้น)|(?P<mid>กลาง)|(?P<late>ปลาย|สิ้น))\s?(?:ๆ\s?)?ปี(?:ปฏิทิน)?\s?"
    r"(?:(?P<rel>นี้|ปัจจุบัน|หน้า|ถัดไป|ที่แล้ว|ที่ผ่านมา|ก่อนหน้า(?:นี้)?|กลาย|ก่อน(?!\s?ๆ))"
    r"|(?:(?P<cue>พศ|คศ)\s?)?(?P<y>\d{4}|\d{2})(?!\d)(?![.,]\d))"
    r"|(?:(?P<en_early>early|(?:the )?(?:beginning|start) of)|(?P<en_mid>mid|(?:the )?middle of)"
    r"|(?P<en_late>late|(?:the )?end of))[\s-]?"
    r"(?:(?P<en_rel>this|next|last|the coming|the current) year(?![a-z])|(?P<en_y>\d{4})(?!\d)(?![.,]\d))"
)
_RE_YEAR_PART_HINT = re.compile(r"ต้น|กลาง|ปลาย|สิ้น|early|mid|late|end of|beginning of|start of")
# The ต้น of เบื้องต้น (preliminary), the กลาง of ส่วนกลาง (central), the สิ้น of ทั้งสิ้น (in total) are not parts.
_RE_PART_NOT_AFTER = re.compile(r"(?:เบื้อง|เริ่ม|ตั้ง|ขั้น|ชั้น|ส่วน|ตรง|ศูนย์|ปาน|ระหว่าง|ทั้ง|หมด)\s?$")
_RE_TOO_BEFORE = re.compile(r"(?:too|so) $")
# Relative words of a part's year; any other the pattern allows (ที่แล้ว, ก่อน, last, ...) is the year before.
_DELTAS = {
    "นี้": 0, "ปัจจุบัน": 0, "this": 0, "the current": 0,
    "หน้า": 1, "ถัดไป": 1, "next": 1, "the coming": 1,
}  # fmt: skip


def _year_parts(text: str, today: date, out: list[tuple[int, int, object]]) -> None:
    """ต้นปีหน้า, กลางปีนี้, ปลายปี 70, สิ้นปีที่แล้ว, early next year, mid-2027, the end of next year."""
    if not _RE_YEAR_PART_HINT.search(text):
        return
    for m in _RE_YEAR_PART.finditer(text):
        start, end = m.start(), m.end()
        if start > 0 and text[start].isascii() and text[start - 1].isalnum():
            continue  # the "late" of "chocolate"
        if m.group("en_late") == "late" and _RE_TOO_BEFORE.search(text, max(0, start - 4), start):
            continue  # "too late this year" is no time of year
        if _RE_PART_NOT_AFTER.search(text, max(0, start - 8), start):
            continue
        part = next(p for p in _PART_MONTHS if m.group(p) or m.group("en_" + p))
        rel = m.group("rel") or m.group("en_rel")
        if rel is not None:
            # Plain ปี / year here is the calendar year: ต้นปีหน้า is January to March of next year.
            year: int | None = today.year + _DELTAS.get(rel, -1)
        else:
            digits = m.group("y") or m.group("en_y")
            if _RE_MONEY_AFTER.match(text, end) or _RE_COUNT_AFTER_4.match(text, end):
                continue  # "ปลายปี 70 ล้าน"
            year = _year_of_digits(digits, m.group("cue"), False)
        if year is None or not 1 <= year <= 9999:
            continue
        first, last = _PART_MONTHS[part]
        until = date(year, last, calendar.monthrange(year, last)[1])
        how = "relative" if rel is not None else "span"
        out.append((start, end, _span_ref(text, start, end, date(year, first, 1), until, how)))


_EN_COUNT_WORDS = "a|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_RE_REL_MONTH = re.compile(
    r"เดือน\s?(?:(?P<next>หน้า|ถัดไป|ต่อไป)|(?P<this>นี้|ปัจจุบัน)"
    r"|(?P<last>ที่แล้ว|ที่ผ่านมา|ก่อนหน้า(?:นี้)?|ก่อน(?!\s?ๆ)))"
    rf"|อีก\s?(?P<n_in>\d{{1,2}}|{_NUM_WORD})\s?เดือน"
    rf"|(?P<n_ago>\d{{1,2}}|{_COUNT_WORD})\s?เดือน\s?ที่แล้ว"
    r"|(?:(?P<en_next>next|the coming|coming|upcoming)|(?P<en_this>this|current|the current)"
    r"|(?P<en_last>last|previous|the previous)) month(?![a-z])"
    rf"|in (?P<en_in>\d{{1,2}}|{_EN_COUNT_WORDS}) months?(?![a-z])"
    rf"|(?P<en_fwd>\d{{1,2}}|{_EN_COUNT_WORDS}) months? from now(?![a-z])"
    rf"|(?P<en_ago>\d{{1,2}}|{_EN_COUNT_WORDS}) months? ago(?![a-z])"
)
# "3 เดือนที่ผ่านมา" (the past three months) and "1 เดือนก่อนปิดรับ" (a month before closing) are periods; only
# small counts, so the ร้อย of "เรียบร้อยเดือนหน้า" is no count.
_RE_COUNT_BEFORE_MONTH = re.compile(r"(?:\d|หนึ่ง|สอง|สาม|สี่|ห้า|หก|เจ็ด|แปด|เก้า|สิบ)\s?$")
_MAX_MONTHS = 12  # "อีก 18 เดือน" is a duration more than a month


def _relative_months(text: str, today: date, out: list[tuple[int, int, object]]) -> None:
    """เดือนหน้า, เดือนนี้, เดือนที่แล้ว, อีก 2 เดือน, 2 เดือนที่แล้ว, next month, in two months, 3 months ago."""
    if "เดือน" not in text and "month" not in text:
        return
    for m in _RE_REL_MONTH.finditer(text):
        start = m.start()
        if start > 0 and text[start].isascii() and text[start - 1].isalnum():
            continue
        kind = m.lastgroup or ""
        if kind in ("next", "this", "last") and _RE_COUNT_BEFORE_MONTH.search(text, max(0, start - 20), start):
            continue
        if kind.startswith(("n_", "en_in", "en_fwd", "en_ago")):
            n = _count(m.group(kind))
            if n is None or not 1 <= n <= _MAX_MONTHS:
                continue
            delta = -n if kind in ("n_ago", "en_ago") else n
        else:
            delta = {"next": 1, "en_next": 1, "this": 0, "en_this": 0}.get(kind, -1)
        months = today.year * 12 + today.month - 1 + delta
        first = date(months // 12, months % 12 + 1, 1)
        fy = _fy(first)
        out.append((start, m.end(), TimeRef("month", fy, (fy,), start, m.end(), m.group(), "relative", first)))


# Years in English number words: "twenty twenty-nine", "twenty twenty eight" (2010..2099, a year's two halves).
_EN_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_UNITS = "one two three four five six seven eight nine".split()
_RE_EN_WORD_YEAR = re.compile(
    rf"twenty[ -](?:(?P<teen>{'|'.join(_EN_TEENS)})"
    rf"|(?P<tens>{'|'.join(_EN_TENS)})(?:[ -](?P<unit>{'|'.join(_EN_UNITS)}))?)(?![a-z-])"
)
_RE_EN_FISCAL_BEFORE = re.compile(r"(?:(?<![a-z])fy|(?:fiscal|financial|budget) years?|fiscal)\s?$")


def _en_word_years(text: str, out: list[tuple[int, int, object]]) -> None:
    """twenty twenty-nine (a calendar year), fy twenty twenty-eight (a fiscal year)."""
    if "twenty" not in text:
        return
    for m in _RE_EN_WORD_YEAR.finditer(text):
        start, end = m.start(), m.end()
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "-"):
            continue  # "one hundred and twenty-twenty"
        if _RE_MONEY_AFTER.match(text, end) or _RE_COUNT_AFTER_4.match(text, end):
            continue  # "twenty twenty-baht notes"
        if m.group("tens") == "twenty" and not m.group("unit"):
            continue  # "twenty-twenty vision"; 2020 is long past for fiscal questions
        if m.group("teen"):
            n = 2010 + _EN_TEENS.index(m.group("teen"))
        else:
            n = 2000 + 10 * (_EN_TENS.index(m.group("tens")) + 2)
            n += _EN_UNITS.index(m.group("unit")) + 1 if m.group("unit") else 0
        cue = _RE_EN_FISCAL_BEFORE.search(text, max(0, start - 17), start)
        begin = cue.start() if cue else start
        y = _Year(n + _BE, begin, "fy_ce" if cue else "ce", "ce", cue is None)
        out.append((begin, end, _year_ref(text, y, end)))


# A month without a year next to a year: "พ.ย. ปีหน้า", "ต.ค. ของปีงบ 70", "ปีหน้าเดือนมีนา", "October next year".
_RE_PAIR_AFTER = re.compile(r"\s?(?:(?:ของ|ใน)\s?|(?:of|in) )?")
_RE_PAIR_BEFORE = re.compile(r"\s?(?:(?:เดือน|ช่วง|ตอน|ใน|ภายใน)\s?|(?:in|,) ?)?")
_YEAR_KINDS = ("fiscal_year", "calendar_year", "relative_fiscal", "relative_calendar")
# A fiscal cue in the year's text makes the month one of that fiscal year (ต.ค. ปีงบ 70 is October 2569).
_RE_FISCAL_WORD = re.compile(r"งบ|งปม|fy|fiscal|financial|budget|ngob|รอบ|round")


def _pair_year(month: int, y: TimeRef, today: date) -> int | None:
    """The C.E. year of that month in the year y names, or None when y is no year."""
    if y.kind not in _YEAR_KINDS:
        return None
    if y.how == "pair" or (y.kind != "relative_calendar" and _RE_FISCAL_WORD.search(y.text)):
        ce = y.fiscal_year - _BE - (1 if month >= 10 else 0)  # October to December open the fiscal year
    elif y.kind == "relative_fiscal":  # plain ปีหน้า / next year: a calendar year
        ce = today.year + y.fiscal_year - _fy(today)
    else:  # ปี 70, 2570, ค.ศ. 2027, ปีปฏิทินนี้: the number is the calendar year (B.E.)
        ce = y.fiscal_year - _BE
    return ce if 1 <= ce <= 9999 else None


def _paired(text: str, w: _When, y: TimeRef, start: int, end: int, today: date) -> TimeRef | None:
    """The month (date, day range) w in the year y names, as one reference from start to end."""
    ce = _pair_year(w.month, y, today)
    b = _bounds(w, ce) if ce is not None else None
    if b is None:
        return None
    relative = y.kind.startswith("relative")
    if w.first_day is not None:
        return _span_ref(text, start, end, b[0], b[1], "relative" if relative else "span")
    kind = "month" if w.day is None else "date"
    fy = _fy(b[0])
    return TimeRef(kind, fy, (fy,), start, end, text[start:end], "relative" if relative else kind, b[0])


# --- putting it together -------------------------------------------------------------------------------


def _select(found: list[tuple[int, int, object]]) -> list[tuple[int, int, object]]:
    """Leftmost, then longest, readings that do not overlap: "5 ต.ค. 69" is one date, not a date and a year."""
    found.sort(key=lambda c: (c[0], -c[1]))
    chosen: list[tuple[int, int, object]] = []
    last_end = 0
    for c in found:
        if c[0] >= last_end:
            chosen.append(c)
            last_end = c[1]
    return chosen


def _joined(text: str, a: _When, b: _When) -> bool:
    """Are two dates or months written as a span ("ต.ค. 70 – ก.ย. 71", "between Oct and Dec")?"""
    if _RE_SPAN_JOIN.fullmatch(text, a.end, b.start):
        return True
    return bool(_RE_SPAN_AND.fullmatch(text, a.end, b.start)) and bool(
        _RE_BETWEEN.search(text, max(0, a.start - 12), a.start)
    )


def _read(text: str, today: date) -> tuple[TimeRef, ...]:
    found: list[tuple[int, int, object]] = []
    if any(ch.isdigit() for ch in text):
        _years(text, found)
        _numeric_dates(text, found)
    words = _RE_NUM_WORD_HINT.search(text) is not None
    if words:
        _word_years(text, found)
    _months(text, found, words)
    _relatives(text, today, found)
    _year_parts(text, today, found)
    _relative_months(text, today, found)
    _en_word_years(text, found)

    chosen = [c[2] for c in _select(found) if c[2] is not None]
    refs: list[TimeRef] = []
    i = 0
    while i < len(chosen):
        item = chosen[i]
        nxt = chosen[i + 1] if i + 1 < len(chosen) else None
        if isinstance(item, _When) and isinstance(nxt, _When) and item.first_day is None and _joined(text, item, nxt):
            # "ต.ค. – ธ.ค. ปีหน้า", "ต.ค. – มี.ค. ปีงบ 70": a year after a span without one is the span's year.
            year_ref = chosen[i + 2] if i + 2 < len(chosen) else None
            last, end, how, used = nxt, nxt.end, "span", 2
            if item.year is None and nxt.year is None:
                how = "span_no_year"
                if isinstance(year_ref, TimeRef) and _RE_PAIR_AFTER.fullmatch(text, nxt.end, year_ref.start):
                    ce = _pair_year(nxt.month, year_ref, today)
                    if ce is not None:
                        last, end, used = replace(nxt, year=ce), year_ref.end, 3
                        how = "relative" if year_ref.kind.startswith("relative") else "span"
            bounds = _span_bounds(item, last, today)
            if bounds is not None:
                refs.append(_span_ref(text, item.start, end, bounds[0], bounds[1], how))
                i += used
                continue
        # A month without a year and a year beside it are one reference: the month after its year wins
        # ("ปีงบ 70 ต.ค. ปีหน้า": ต.ค. ปีหน้า), and a month that starts a span keeps it.
        pair: TimeRef | None = None
        if isinstance(item, _When) and item.year is None and isinstance(nxt, TimeRef):
            if _RE_PAIR_AFTER.fullmatch(text, item.end, nxt.start):
                pair = _paired(text, item, nxt, item.start, nxt.end, today)
        elif isinstance(item, TimeRef) and isinstance(nxt, _When) and nxt.year is None:
            after = chosen[i + 2] if i + 2 < len(chosen) else None
            taken = (
                (isinstance(after, _When) and _joined(text, nxt, after))
                or (isinstance(after, TimeRef) and _RE_PAIR_AFTER.fullmatch(text, nxt.end, after.start) is not None)
                or (bool(refs) and _RE_RANGE_JOIN.fullmatch(text, refs[-1].end, item.start) is not None)
            )  # the 65 of "ปี 63-65 ต.ค." ends a range
            if not taken and _RE_PAIR_BEFORE.fullmatch(text, item.end, nxt.start):
                pair = _paired(text, nxt, item, item.start, nxt.end, today)
        if pair is not None:
            refs.append(pair)
            i += 2
            continue
        if isinstance(item, _When):
            ref = _when_ref(text, item, today)
            if ref is not None:
                refs.append(ref)
        elif isinstance(item, TimeRef):
            refs.append(item)
        i += 1
    return tuple(refs)


# Each message is read several times on its way (analysis, routing, follow-ups): a small cache of the pure
# function. Keys are (text, today); texts are bounded by normalize (2,000 characters).
_read_cached = functools.lru_cache(maxsize=1024)(_read)


def read_time(text: str, today: date, *, normalized: bool = False) -> list[TimeRef]:
    """Every time expression in the text, in text order, each resolved against `today`. `normalized`: the text
    already went through bot.thai.normalize; spans (`start`, `end`) are positions in the normalized text."""
    if not normalized:
        text = normalize(text)
    return list(_read_cached(text, today))
