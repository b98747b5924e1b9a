"""Dates and source lines as Thai and English users expect to read them."""

from __future__ import annotations

from datetime import date

from bot.knowledge.schema import Source
from bot.years import BE_OFFSET

THAI_MONTHS = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)
THAI_MONTHS_SHORT = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def thai_date(d: date, short: bool = False) -> str:
    months = THAI_MONTHS_SHORT if short else THAI_MONTHS
    return f"{d.day} {months[d.month - 1]} {d.year + BE_OFFSET}"


def english_date(d: date) -> str:
    return f"{d.day} {EN_MONTHS[d.month - 1]} {d.year} (B.E. {d.year + BE_OFFSET})"


def format_date(d: date, language: str) -> str:
    return english_date(d) if language == "en" else thai_date(d)


def source_name(s: Source, language: str) -> str:
    """How an answer names a source: its own citation, or "DGA ลงวันที่ <posted>" for a DGA page."""
    if s.cite and (language != "en" or not s.cite_en):
        return s.cite
    if s.cite_en and language == "en":
        return s.cite_en
    if s.posted is None:
        return s.title
    if language == "en":
        return f"DGA, posted {english_date(s.posted)}"
    return f"DGA ลงวันที่ {thai_date(s.posted, short=True)}"


def source_line(sources: list[Source], language: str) -> str:
    if not sources:
        return ""
    parts = []
    for s in sources:
        parts.append(source_name(s, language))
        if s.url:  # beside the citation: where to read the document itself
            parts[-1] += f" {s.url}"
    label = "Source" if language == "en" else "ที่มา"
    return f"{label}: " + "; ".join(parts)
