"""faq and eligibility answers from knowledge entries, and "did you mean" when no entry is clear."""

from __future__ import annotations

from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, source_refs, with_sources
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry
from bot.matching import Match


def entry_question(entry: FaqEntry, turn: Turn) -> str:
    """The question that asks for this entry, as a suggestion button would send it."""
    if turn.en and entry.questions_en:
        return entry.questions_en[0]
    return entry.questions[0]


def entry_answer(kb: KnowledgeBase, faq: dict[str, FaqEntry], turn: Turn, entry: FaqEntry, score: float) -> Answer:
    kind = AnswerKind.ELIGIBILITY if entry.kind == "eligibility" else AnswerKind.FAQ
    suggestions = [entry_question(faq[r], turn) for r in entry.related if r in faq][:3]
    return Answer(
        kind=kind,
        text=with_sources(kb, turn, turn.pick(entry.answer, entry.answer_en), entry.sources),
        title=turn.pick(entry.title, entry.title_en),
        confidence=round(min(1.0, max(0.0, score / 100)), 2),
        sources=source_refs(kb, entry.sources),
        entry_id=entry.id,
        guideline=entry.guideline,
        guidelines=[entry.guideline] if entry.guideline else [],
        fiscal_year=entry.fiscal_year,
        language=turn.language,
        suggestions=suggestions,
    )


def did_you_mean(faq: dict[str, FaqEntry], turn: Turn, matches: list[Match]) -> Answer:
    options = [faq[m.entry_id] for m in matches[:3]]
    listing = "\n".join(f"{i}. {turn.pick(e.title, e.title_en)}" for i, e in enumerate(options, 1))
    return Answer(
        kind=AnswerKind.FAQ,
        text=turn.pick(
            f"ไม่แน่ใจว่าหมายถึงเรื่องใด ใช่เรื่องเหล่านี้หรือไม่\n{listing}\nแตะเลือกคำถามด้านล่าง หรือพิมพ์ถามใหม่ให้ชัดขึ้น",
            f"I'm not sure what you mean. Did you mean one of these?\n{listing}\nTap a question below or rephrase.",
        ),
        title=turn.pick("หมายถึงเรื่องนี้หรือไม่", "Did you mean"),
        confidence=round(matches[0].score / 100, 2),
        language=turn.language,
        suggestions=[entry_question(e, turn) for e in options],
    )
