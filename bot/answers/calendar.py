"""The fiscal-year calendar itself: which fiscal year it is now, the months a fiscal year spans, and which
fiscal years can still take requests. Computed from the legal definition (Budget Procedures Act B.E. 2561,
section 4) and the knowledge's request windows, with the same rule status answers use."""

from __future__ import annotations

from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, as_of_line, source_refs, where_to_ask, with_sources
from bot.answers.inference import CALENDAR_SOURCE, CLOSED_NOTICE_SOURCE, begun_inference
from bot.answers.status import Reason, decide
from bot.formatting import format_date
from bot.knowledge.loader import KnowledgeBase
from bot.time_model import TimeRef
from bot.years import fiscal_year_end, fiscal_year_of, fiscal_year_start

NOW_ENTRY = "fiscal-calendar-now"
MONTHS_ENTRY = "fiscal-calendar-months"
OPEN_ENTRY = "fiscal-calendar-open"


def _span(turn: Turn, year: int) -> str:
    d = lambda x: format_date(x, turn.language)  # noqa: E731
    return turn.pick(
        f"{d(fiscal_year_start(year))} ถึง {d(fiscal_year_end(year))}",
        f"{d(fiscal_year_start(year))} to {d(fiscal_year_end(year))}",
    )


def _rule(turn: Turn) -> str:
    return turn.pick(
        "ตามพระราชบัญญัติวิธีการงบประมาณ พ.ศ. 2561 มาตรา 4 ปีงบประมาณคือ 1 ตุลาคมของปีหนึ่งถึง 30 กันยายนของปีถัดไป "
        "และใช้ปี พ.ศ. ของปีถัดไปนั้นเป็นชื่อของปีงบประมาณ",
        "Under section 4 of the Budget Procedures Act B.E. 2561, a fiscal year runs from 1 October of one year to "
        "30 September of the next, and is named by the B.E. year of the next one.",
    )


def _answer(kb: KnowledgeBase, turn: Turn, entry: str, title: str, text: str, ids: list[str], **fields) -> Answer:  # noqa: ANN003
    ids = [CALENDAR_SOURCE, *ids] if CALENDAR_SOURCE in kb.sources else ids
    return Answer(
        kind=AnswerKind.FAQ,
        entry_id=entry,
        text=with_sources(kb, turn, text, ids),
        title=title,
        confidence=0.95,
        sources=source_refs(kb, ids),
        as_of=turn.today,
        language=turn.language,
        **fields,
    )


def current_year_answer(kb: KnowledgeBase, turn: Turn) -> Answer:
    year = fiscal_year_of(turn.today)
    text = turn.pick(
        f"ตอนนี้อยู่ในปีงบประมาณ พ.ศ. {year}{turn.end} ({_span(turn, year)})\n{_rule(turn)}\n{as_of_line(turn, year)}",
        f"We are now in fiscal year B.E. {year} ({_span(turn, year)}).\n{_rule(turn)}\n{as_of_line(turn, year)}",
    )
    return _answer(
        kb,
        turn,
        NOW_ENTRY,
        turn.pick(f"ปีงบประมาณ พ.ศ. {year}", f"Fiscal year {year}"),
        text,
        [],
        fiscal_year=year,
        suggestions=_suggestions(turn, year),
    )


def months_answer(kb: KnowledgeBase, turn: Turn, year: int | None) -> Answer:
    asked = year is not None
    year = year if year is not None else fiscal_year_of(turn.today)
    lead = turn.pick(
        f"ปีงบประมาณ พ.ศ. {year} คือ {_span(turn, year)}{turn.end}",
        f"Fiscal year B.E. {year} runs from {_span(turn, year)}.",
    )
    if not asked:
        lead = turn.pick(f"ปีงบประมาณนับจาก 1 ตุลาคมถึง 30 กันยายน{turn.end} เช่น ", "") + lead
    text = f"{lead}\n{_rule(turn)}"
    return _answer(
        kb,
        turn,
        MONTHS_ENTRY,
        turn.pick(f"ช่วงเวลาของปีงบประมาณ พ.ศ. {year}", f"Fiscal year {year}"),
        text,
        [],
        fiscal_year=year,
        suggestions=_suggestions(turn, year),
    )


def open_years_answer(kb: KnowledgeBase, turn: Turn) -> Answer:
    current = fiscal_year_of(turn.today)
    ids: list[str] = []
    open_years: list[int] = []
    unknown_from = current + 1
    # Years with a window in the knowledge: say what each one is now; every later year without one is unknown.
    for year in kb.fiscal_years:
        if year <= current:
            continue
        v = decide(kb, year, turn.today)
        if v.accepting:
            open_years.append(year)
            ids += v.sources
        elif v.reason is not Reason.UNKNOWN:
            ids += v.sources
    known = turn.pick(
        f"ปีงบประมาณที่เปิดรับคำขออยู่ตามข้อมูลที่มี: {', '.join(f'พ.ศ. {y}' for y in open_years)}{turn.end}\n",
        f"Fiscal years open for requests in the sources: {', '.join(f'B.E. {y}' for y in open_years)}.\n",
    )
    text = (known if open_years else "") + turn.pick(
        f"ปีงบประมาณ พ.ศ. {current} และปีก่อนหน้าเริ่มไปแล้ว{turn.end} "
        f"ส่วนปีงบประมาณ พ.ศ. {unknown_from} เป็นต้นไป เอกสารที่มีไม่ได้ระบุกำหนดการรับคำขอ"
        + ("" if not open_years else " (นอกจากที่ระบุข้างต้น)"),
        f"Fiscal year B.E. {current} and earlier have begun; for B.E. {unknown_from} "
        "onwards the sources give no request schedule" + ("" if not open_years else " (other than the above)") + ".",
    )
    text += "\n" + begun_inference(kb, turn) + "\n" + where_to_ask(kb, turn) + "\n" + as_of_line(turn, current)
    ids.append(CLOSED_NOTICE_SOURCE)
    return _answer(
        kb,
        turn,
        OPEN_ENTRY,
        turn.pick("ปีงบประมาณที่ยังรับคำขอ", "Fiscal years still open"),
        text,
        ids,
        suggestions=_suggestions(turn, current),
    )


def _suggestions(turn: Turn, year: int) -> list[str]:
    if turn.en:
        return [f"Is FY {year + 1} accepting requests?", "What are the guidelines?", "Who can request a budget?"]
    return [f"ปีงบ {year + 1} ยังยื่นได้ไหม", "แนวทางมีอะไรบ้าง", "ใครขอได้บ้าง"]


def date_answer(kb: KnowledgeBase, turn: Turn, ref: TimeRef) -> Answer:
    """Which fiscal year a date, a month or a span of months falls in."""
    years = list(ref.fiscal_years) or [ref.fiscal_year]
    joined = turn.pick(" และ ".join(f"พ.ศ. {y}" for y in years), " and ".join(f"B.E. {y}" for y in years))
    spans = "\n".join(turn.pick(f"ปีงบประมาณ พ.ศ. {y}: {_span(turn, y)}", f"FY {y}: {_span(turn, y)}") for y in years)
    text = turn.pick(
        f"{ref.text} อยู่ในปีงบประมาณ {joined}{turn.end}\n{spans}\n{_rule(turn)}",
        f"{ref.text} falls in fiscal year {joined}.\n{spans}\n{_rule(turn)}",
    )
    return _answer(
        kb,
        turn,
        MONTHS_ENTRY,
        turn.pick(f"ปีงบประมาณ พ.ศ. {years[0]}", f"Fiscal year {years[0]}"),
        text,
        [],
        fiscal_year=years[0],
        suggestions=_suggestions(turn, years[0]),
    )
