"""faq and eligibility answers from knowledge entries, "did you mean" when no entry is clear, and the honest
answers for what an entry does not cover (another year, a named kind of body)."""

from __future__ import annotations

from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, lead_first, source_refs, where_to_ask, with_sources
from bot.answers.general import fallback
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry
from bot.matching import Match

NAMED_BODY_CONFIDENCE = 0.7  # the answer is "the sources do not say", about the body asked


def entry_question(entry: FaqEntry, turn: Turn) -> str:
    """The question that asks for this entry, as a suggestion button would send it."""
    if turn.en and entry.questions_en:
        return entry.questions_en[0]
    return entry.questions[0]


def _suggestions(faq: dict[str, FaqEntry], turn: Turn, entry: FaqEntry) -> list[str]:
    return [entry_question(faq[r], turn) for r in entry.related if r in faq][:3]


def entry_answer(kb: KnowledgeBase, faq: dict[str, FaqEntry], turn: Turn, entry: FaqEntry, score: float) -> Answer:
    kind = AnswerKind.ELIGIBILITY if entry.kind == "eligibility" else AnswerKind.FAQ
    text = lead_first(turn.pick(entry.answer, entry.answer_en), turn)
    return Answer(
        kind=kind,
        text=with_sources(kb, turn, text, entry.sources),
        title=turn.pick(entry.title, entry.title_en),
        confidence=round(min(1.0, max(0.0, score / 100)), 2),
        sources=source_refs(kb, entry.sources),
        entry_id=entry.id,
        guideline=entry.guideline,
        guidelines=[entry.guideline] if entry.guideline else [],
        fiscal_year=entry.fiscal_year,
        language=turn.language,
        suggestions=_suggestions(faq, turn, entry),
    )


def named_body_answer(kb: KnowledgeBase, faq: dict[str, FaqEntry], turn: Turn, entry: FaqEntry, body: str) -> Answer:
    """ "May a <kind of body> request?": the sources name no kinds of body, so say so about the one asked,
    then what they do say, and where to ask."""
    lead = turn.pick(
        f"เอกสารที่{turn.me}มีไม่ได้ระบุว่า{body}ขอรับงบประมาณภายใต้แผนงานบูรณาการรัฐบาลดิจิทัลได้หรือไม่{turn.end}",
        f"The sources do not say whether {body} may request a budget under the Digital Government Integration Plan.",
    )
    said = turn.pick(
        'สิ่งที่เอกสารของ DGA ระบุคือผู้ขอรับงบประมาณเป็น "หน่วยงานของรัฐ" ที่ช่วยกันผลักดันโครงการสำคัญที่ก่อให้เกิดผล (impact) '
        "ในการทำงานร่วมกัน โดยไม่ได้กำหนดประเภทหน่วยงานที่ขอได้หรือไม่ได้",
        'What DGA\'s documents do say is that requests come from "government agencies" pushing important projects '
        "with an impact through working together; they name no kinds of body that may or may not request.",
    )
    text = f"{lead}\n{said}\n{where_to_ask(kb, turn)}"
    return Answer(
        kind=AnswerKind.ELIGIBILITY,
        text=with_sources(kb, turn, text, entry.sources),
        title=turn.pick(entry.title, entry.title_en),
        confidence=NAMED_BODY_CONFIDENCE,
        sources=source_refs(kb, entry.sources),
        entry_id=entry.id,
        language=turn.language,
        suggestions=_suggestions(faq, turn, entry),
    )


def other_year_answer(kb: KnowledgeBase, turn: Turn, entry: FaqEntry | None, year: int) -> Answer:
    """The sources give this only for another fiscal year: say so, and give it as that year's."""
    if entry is None or entry.fiscal_year is None:
        note = turn.pick(
            f"เอกสารที่{turn.me}มีไม่มีข้อมูลเรื่องนี้สำหรับปีงบประมาณ พ.ศ. {year}{turn.end}",
            f"The sources have no information on this for FY {year}.",
        )
        return fallback(kb, turn, note=note).model_copy(update={"fiscal_year": year})
    fy = entry.fiscal_year
    note = turn.pick(
        f"เอกสารที่{turn.me}มีให้ข้อมูลนี้เฉพาะปีงบประมาณ พ.ศ. {fy} ไม่มีของปีงบประมาณ พ.ศ. {year}{turn.end}\n"
        f"ข้อมูลของปีงบประมาณ พ.ศ. {fy}: {entry.answer}",
        f"The sources give this only for FY {fy}, not for FY {year}.\nFor FY {fy}: {entry.answer_en}",
    )
    answer = fallback(kb, turn, note=note)
    return answer.model_copy(
        update={
            "text": with_sources(kb, turn, answer.text, entry.sources),
            "sources": source_refs(kb, entry.sources),
            "fiscal_year": year,
            "suggestions": [entry_question(entry, turn), *answer.suggestions[:3]],
        }
    )


def did_you_mean(faq: dict[str, FaqEntry], turn: Turn, matches: list[Match]) -> Answer:
    options = [faq[m.entry_id] for m in matches[:3]]
    listing = "\n".join(f"{i}. {turn.pick(e.title, e.title_en)}" for i, e in enumerate(options, 1))
    return Answer(
        kind=AnswerKind.FAQ,
        text=turn.pick(
            f"{turn.me}ไม่แน่ใจว่าหมายถึงเรื่องใด ใช่เรื่องเหล่านี้หรือไม่{turn.ask}\n{listing}\n"
            "แตะเลือกคำถามด้านล่าง หรือพิมพ์ถามใหม่ให้ชัดขึ้น",
            f"I'm not sure what you mean. Did you mean one of these?\n{listing}\nTap a question below or rephrase.",
        ),
        title=turn.pick("หมายถึงเรื่องนี้หรือไม่", "Did you mean"),
        confidence=round(min(0.5, matches[0].score / 100), 2),
        language=turn.language,
        suggestions=[entry_question(e, turn) for e in options],
    )
