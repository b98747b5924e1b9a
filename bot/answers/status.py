"""fiscal_year_status: is fiscal year N still accepting budget requests, as of today?

Order of evidence: a status the sources state outright; then a fiscal year already under way (its dates are the
Budget Procedures Act's; that it takes no new requests is the assistant's inference from how the sources show
requests being prepared, and the answer says so); then a request window in the knowledge base; otherwise "no
information".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, as_of_line, source_refs, where_to_ask, with_sources
from bot.answers.inference import CALENDAR_SOURCE, CLOSED_NOTICE_SOURCE, begun_inference, cite
from bot.answers.subscription import Speech, subscribe_offer
from bot.formatting import format_date
from bot.knowledge.loader import KnowledgeBase
from bot.subscriptions import subscribable
from bot.years import fiscal_year_end, fiscal_year_of, fiscal_year_start


class Reason(StrEnum):
    STATED = "stated"
    BEGUN = "begun"
    OPEN = "open"
    CLOSED = "closed"
    NOT_YET_OPEN = "not_yet_open"
    CLOSES_LATER = "closes_later"  # only the closing date is known and it has not passed
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    accepting: bool | None
    reason: Reason
    sources: list[str]
    opens: date | None = None
    closes: date | None = None


def decide(kb: KnowledgeBase, year: int, today: date) -> Verdict:
    info = kb.fiscal_years.get(year)
    if info is not None and info.status is not None:
        return Verdict(info.status.accepting, Reason.STATED, info.status.sources)
    if today >= fiscal_year_start(year):
        return Verdict(False, Reason.BEGUN, [i for i in (CALENDAR_SOURCE, CLOSED_NOTICE_SOURCE) if i in kb.sources])
    window = info.window if info is not None else None
    if window is not None:
        opens, closes = window.opens, window.closes
        if closes is not None and today > closes:
            return Verdict(False, Reason.CLOSED, window.sources, opens, closes)
        if opens is not None and today < opens:
            return Verdict(False, Reason.NOT_YET_OPEN, window.sources, opens, closes)
        if opens is not None:
            return Verdict(True, Reason.OPEN, window.sources, opens, closes)
        if closes is not None:
            return Verdict(None, Reason.CLOSES_LATER, window.sources, opens, closes)
    return Verdict(None, Reason.UNKNOWN, [])


def _verdict_text(kb: KnowledgeBase, turn: Turn, year: int, v: Verdict) -> str:
    """The answer itself, first: one short sentence (then at most a line of why)."""
    t, e = turn.pick, turn.end
    d = lambda x: format_date(x, turn.language)  # noqa: E731
    if v.reason is Reason.STATED:
        status = kb.fiscal_years[year].status
        assert status is not None
        head = t(
            f"ปีงบประมาณ พ.ศ. {year} {'ยังเปิดรับคำขอ' if v.accepting else 'ไม่รับคำขอแล้ว'}{e}",
            f"FY {year} is {'accepting requests' if v.accepting else 'no longer accepting requests'}.",
        )
        return f"{head}\n{t(status.statement, status.statement_en)}"
    if v.reason is Reason.BEGUN:
        start, end = fiscal_year_start(year), fiscal_year_end(year)
        ended = turn.today > end
        began = t(
            f"ปีงบประมาณ พ.ศ. {year} " + ("เริ่มและสิ้นสุดไปแล้ว" if ended else "เริ่มไปแล้ว") + f"{e} ({d(start)} ถึง {d(end)})",
            f"FY {year} " + ("began and ended" if ended else "has already begun") + f" ({d(start)} to {d(end)})",
        )
        return f"{began} {cite(kb, turn, CALENDAR_SOURCE)}\n{begun_inference(kb, turn)}"
    if v.reason is Reason.OPEN:
        until = t(f" ถึงวันที่ {d(v.closes)}", f" until {d(v.closes)}") if v.closes else ""
        return t(
            f"ปีงบประมาณ พ.ศ. {year} เปิดรับคำขออยู่{until}{e} (เปิดรับตั้งแต่ {d(v.opens)})",  # type: ignore[arg-type]
            f"FY {year} is accepting requests{until} (open since {d(v.opens)}).",  # type: ignore[arg-type]
        )
    if v.reason is Reason.CLOSED:
        return t(
            f"ปีงบประมาณ พ.ศ. {year} ปิดรับคำขอแล้วเมื่อ {d(v.closes)}{e}",  # type: ignore[arg-type]
            f"FY {year}: requests closed on {d(v.closes)}.",  # type: ignore[arg-type]
        )
    if v.reason is Reason.NOT_YET_OPEN:
        return t(
            f"ปีงบประมาณ พ.ศ. {year} ยังไม่เปิดรับคำขอ{e} จะเปิดรับวันที่ {d(v.opens)}",  # type: ignore[arg-type]
            f"FY {year} is not open yet; requests open on {d(v.opens)}.",  # type: ignore[arg-type]
        )
    if v.reason is Reason.CLOSES_LATER:
        return t(
            f"ปีงบประมาณ พ.ศ. {year} มีกำหนดปิดรับคำขอวันที่ {d(v.closes)} แต่ไม่มีข้อมูลวันเปิดรับ"  # type: ignore[arg-type]
            f" {turn.me}จึงบอกไม่ได้ว่าขณะนี้เปิดรับแล้วหรือไม่{e}\n{where_to_ask(kb, turn)}",
            f"FY {year}: requests close on {d(v.closes)}, but there is no opening date, so I cannot tell whether "  # type: ignore[arg-type]
            f"they are accepted now.\n{where_to_ask(kb, turn)}",
        )
    return t(
        f"ปีงบประมาณ พ.ศ. {year} ยังไม่มีข้อมูลว่าเปิดรับคำขอหรือไม่{e} เอกสารที่{turn.me}มีไม่ได้ระบุกำหนดการรับคำขอของปีนี้"
        f"\n{where_to_ask(kb, turn)}",
        f"FY {year}: I have no information on whether requests are accepted; the sources give no schedule "
        f"for this year.\n{where_to_ask(kb, turn)}",
    )


def status_answer(kb: KnowledgeBase, turn: Turn, year: int, *, assumed: bool) -> Answer:
    verdict = decide(kb, year, turn.today)
    current = fiscal_year_of(turn.today)
    parts: list[str] = [_verdict_text(kb, turn, year, verdict)]
    if assumed:
        parts.append(
            turn.pick(
                f"(ไม่ได้ระบุปี {turn.me}จึงตอบสำหรับปีงบประมาณถัดไป เพราะปีงบประมาณปัจจุบัน พ.ศ. {current} เริ่มไปแล้ว)",
                f"(No year given, so this is for the next fiscal year: the current one, B.E. {current}, has already "
                "begun.)",
            )
        )
    info = kb.fiscal_years.get(year)
    ids = list(verdict.sources)
    if info is not None and verdict.reason is not Reason.STATED:
        notes = info.notes_en if turn.en else info.notes
        if notes:
            parts.append(turn.pick("ข้อมูลที่มีของปีนี้: ", "What the sources say about this year: ") + " ".join(notes))
            ids += info.sources
    offers = []
    if verdict.accepting is None and subscribable(kb, year, turn.today):
        # No information yet: offer to tell them once there is (issue 11), rather than have them keep asking.
        speech = Speech(turn.language, turn.voice)
        offers = [subscribe_offer(year, speech)]
        parts.append(
            turn.pick(
                f'หากต้องการให้{turn.me}แจ้งเมื่อ สพร. ประกาศกำหนดการ พิมพ์ "แจ้งเตือนด้วย"',
                'To be told when DGA announces the schedule, type "notify me".',
            )
        )
    parts.append(as_of_line(turn, current))
    confidence = 0.95 if not assumed else 0.75
    return Answer(
        kind=AnswerKind.FISCAL_YEAR_STATUS,
        text=with_sources(kb, turn, "\n".join(parts), ids),
        title=turn.pick(f"สถานะปีงบประมาณ พ.ศ. {year}", f"Fiscal year {year} status"),
        confidence=confidence,
        sources=source_refs(kb, ids),
        fiscal_year=year,
        accepting=verdict.accepting,
        as_of=turn.today,
        language=turn.language,
        suggestions=status_suggestions(turn, year),
        offers=offers,
    )


def status_suggestions(turn: Turn, year: int) -> list[str]:
    if turn.en:
        return [f"What about FY {year + 1}?", "What are the guidelines?", "Who can request a budget?"]
    return [f"แล้วปีงบ {year + 1} ล่ะ", "แนวทางมีอะไรบ้าง", "ยื่นคำขอได้ที่ไหน"]
