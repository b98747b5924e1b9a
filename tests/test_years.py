from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.thai import normalize
from bot.years import (
    YearMention,
    first_year,
    fiscal_year_end,
    fiscal_year_of,
    fiscal_year_start,
    read_years,
)

TODAY = date(2026, 11, 21)  # fiscal year 2570


def years(text: str, today: date = TODAY) -> list[int]:
    return [m.year for m in read_years(normalize(text), today)]


# --- fiscal year arithmetic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "fy"),
    [
        (date(2026, 9, 30), 2569),
        (date(2026, 10, 1), 2570),
        (date(2026, 11, 21), 2570),
        (date(2023, 1, 1), 2566),
        (date(2022, 10, 1), 2566),
        (date(2022, 9, 30), 2565),
    ],
)
def test_fiscal_year_of(day: date, fy: int) -> None:
    assert fiscal_year_of(day) == fy


def test_fiscal_year_bounds() -> None:
    assert fiscal_year_start(2566) == date(2022, 10, 1)
    assert fiscal_year_end(2566) == date(2023, 9, 30)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_fiscal_year_bounds_contain_the_day(day: date) -> None:
    fy = fiscal_year_of(day)
    assert fiscal_year_start(fy) <= day <= fiscal_year_end(fy)


# --- explicit years ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "how"),
    [
        ("2566", "be"),
        ("พ.ศ. 2566", "be"),
        ("พศ 2566", "be"),
        ("พ.ศ.2566", "be"),
        ("๒๕๖๖", "be"),
        ("ปีงบประมาณ พ.ศ. ๒๕๖๖", "be"),
        ("ปีงบ 66", "be_short"),
        ("ปีงบประมาณ 66", "be_short"),
        ("ปี66", "be_short"),
        ("ปี 66", "be_short"),
        ("งบ66", "be_short"),
        ("งบปี 66", "be_short"),
        ("fy66", "be_short"),
        ("FY66", "be_short"),
        ("พ.ศ. 66", "be_short"),
        ("fy 2566", "be"),
        ("fy2566", "be"),
        ("FY2023", "fy_ce"),
        ("fiscal year 2023", "fy_ce"),
        ("fy23", "fy_ce"),
        ("2023", "ce"),
        ("ค.ศ. 2023", "ce"),
        ("in 2023?", "ce"),
    ],
)
def test_reads_fiscal_year_2566(text: str, how: str) -> None:
    mentions = read_years(normalize(text), TODAY)
    assert [(m.year, m.how) for m in mentions] == [(2566, how)]


def test_mention_keeps_the_matched_text() -> None:
    text = normalize("ขอข้อมูลปีงบ 66 หน่อย")
    (mention,) = read_years(text, TODAY)
    assert mention == YearMention(2566, "ปีงบ 66", "be_short")
    assert mention.text in text


@pytest.mark.parametrize(
    "text",
    [
        "2,409.3962",
        "งบ 2,409.3962 ล้านบาท",
        "1.3",
        "1.3 ล้านบาท",
        "2566.25",
        "สัดส่วน 0.2566",
        "ขอ 66,000 บาท",
        "งบ 1,990",
        "29 หน่วยงาน 50 โครงการ",
        "14 แผนงาน",
        "22 พฤษภาคม",
        "๑๘ พฤศจิกายน",
        "66",  # bare two digits without any budget/applying word
        "66 ยังได้ไหม",
        "ขอ 60 โครงการ",  # a count, not a year
        "ยื่นได้ 70 ปี",
        "งบ 2566 ล้านบาท",  # an amount
        "งบ 66 ล้าน",
        "ขอ 70%",
        "ปี 2",
        "ปี 12",  # two-digit Thai years need 50..99
        "1000 บาท",
        "ค.ศ. 2566",  # a B.E. number cannot be a C.E. year
        "พ.ศ. 2023",
        "3000",
        "ข้อ 66 ยื่นอย่างไร",
        "",
    ],
)
def test_not_years(text: str) -> None:
    assert years(text) == []


def test_range_reads_both_ends() -> None:
    mentions = read_years(normalize("ข้อมูลปี 2563-2565"), TODAY)
    assert [(m.year, m.how) for m in mentions] == [(2563, "be"), (2565, "be")]
    assert years("ปีงบ 63-65") == [2563, 2565]
    assert years("fy2022-2023") == [2565, 2566]


def test_bare_two_digits_in_an_application_question() -> None:
    assert [(m.year, m.how) for m in read_years(normalize("66 ยังยื่นได้ไหม"), TODAY)] == [(2566, "be_short")]
    assert years("ขอรับงบ 67 ได้ไหม") == [2567]
    assert years("เปิดรับ 68?") == [2568]


# --- relative years ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("ปีนี้", 0),
        ("งบปีงบนี้", 0),
        ("ปีงบประมาณนี้", 0),
        ("this year", 0),
        ("This fiscal year", 0),
        ("current fiscal year", 0),
        ("ปีหน้า", 1),
        ("ปีงบหน้า", 1),
        ("ปีงบประมาณหน้า", 1),
        ("ปีถัดไป", 1),
        ("next year", 1),
        ("next fiscal year", 1),
        ("ปีที่แล้ว", -1),
        ("ปีก่อน", -1),
        ("ปีงบที่แล้ว", -1),
        ("last year", -1),
        ("previous year", -1),
    ],
)
def test_relative_years(text: str, delta: int) -> None:
    mentions = read_years(normalize(text), TODAY)
    assert [(m.year, m.how) for m in mentions] == [(2570 + delta, "relative")]


def test_relative_years_follow_the_fiscal_calendar() -> None:
    assert years("ปีนี้", date(2026, 9, 30)) == [2569]
    assert years("ปีนี้", date(2026, 10, 1)) == [2570]
    assert years("ปีหน้า", date(2026, 9, 30)) == [2570]


# --- order, duplicates, first_year -------------------------------------------------------------------


def test_text_order_without_duplicates() -> None:
    assert years("ปีหน้า (2571) เทียบกับปีงบ 66 และ 2566 และ fy2023") == [2571, 2566]
    assert years("เทียบ 2567 กับปีที่แล้ว") == [2567, 2569]


def test_first_year() -> None:
    assert first_year(normalize("ขอรายละเอียดปีงบ 67 และ 68"), TODAY) == 2567
    assert first_year(normalize("ยื่นขอได้เมื่อไร"), TODAY) is None


def test_raw_text_is_normalized_first() -> None:
    assert years("ปีงบประมาณ ๒๕๖๖") == [2566]  # also without normalize in the caller
    assert first_year("ＦＹ２０２３", TODAY) == 2566


# --- properties --------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(
            st.one_of(
                st.sampled_from(list("0123456789 .,-–ปีงบพศคfy")),
                st.sampled_from(["ปีงบ", "ประมาณ", "นี้", "หน้า", "ที่แล้ว", "ยื่น", "ล้าน", "fy", "ค.ศ.", "พ.ศ."]),
                st.characters(min_codepoint=0x0E00, max_codepoint=0x0E7F),
            ),
            max_size=30,
        ).map("".join),
    ),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2150, 12, 31)),
)
def test_read_years_never_raises_and_stays_in_range(text: str, today: date) -> None:
    mentions = read_years(text, today)
    assert all(2400 <= m.year <= 2800 for m in mentions)
    assert len({m.year for m in mentions}) == len(mentions)
    hows = {"be", "be_short", "ce", "fy_ce", "apostrophe", "thai_words", "date", "month", "span", "relative"}
    assert all(m.how in hows for m in mentions)
    normalized = normalize(text)
    assert all(m.text in normalized for m in mentions)
