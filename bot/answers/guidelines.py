"""guideline_match: which of the guidelines a described project fits, and why (see bot.advisor)."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from bot.advisor import Advice, GuidelineFit
from bot.analysis import Analyzed, TextAnalyzer, is_latin
from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, source_refs, with_sources
from bot.cues import PhraseSet
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry, Guideline

DIMINISH = 0.7
FUZZY_MIN = 88  # rapidfuzz ratio for a misspelt keyword (ฝึกอบรบ for ฝึกอบรม)


class ProjectEvidence:
    """How much a message reads as a project description: the guidelines' keywords (strong ones count double,
    with diminishing returns) and misspellings of them. Which guideline fits is the advisor's call; this only
    decides whether to ask it."""

    def __init__(self, guidelines: dict[int, Guideline], analyzer: TextAnalyzer) -> None:
        self._sets: list[tuple[PhraseSet, float]] = []
        fuzzy: set[str] = set()
        for g in guidelines.values():
            strong = {k.casefold() for k in g.strong_keywords}
            self._sets.append((PhraseSet(analyzer, [k for k in g.keywords if k.casefold() not in strong]), 1.0))
            self._sets.append((PhraseSet(analyzer, g.strong_keywords), 2.0))
            fuzzy |= {n for k in [*g.keywords, *g.strong_keywords] if (n := analyzer.analyze(k).normalized)}
        self._fuzzy = sorted(k for k in fuzzy if not is_latin(k) and len(k) >= 5 and " " not in k)

    def score(self, a: Analyzed) -> float:
        weights: list[float] = []
        seen: list[str] = []
        for phrases, weight in self._sets:
            for p in sorted(phrases.found(a), key=len, reverse=True):
                # A keyword inside a longer one already found (บุคลากร in บุคลากรภาครัฐ) is not new evidence.
                if not any(p in q for q in seen):
                    seen.append(p)
                    weights.append(weight)
        for token in a.tokens:
            if len(token) < 4 or any(token in q or q in token for q in seen):
                continue
            hit = process.extractOne(token, self._fuzzy, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN)
            if hit is not None and not any(hit[0] in q for q in seen):
                seen.append(hit[0])
                weights.append(1.0)
        weights.sort(reverse=True)
        return sum(w * DIMINISH**i for i, w in enumerate(weights))


def _names(kb: KnowledgeBase, turn: Turn, n: int) -> str:
    g = kb.guidelines[n]
    return turn.pick(f"แนวทางที่ {n} {g.name}", f"Guideline {n}: {g.name_en}")


def _short(kb: KnowledgeBase, turn: Turn, n: int) -> str:
    g = kb.guidelines[n]
    return turn.pick(f"แนวทางที่ {n} ({g.short.split(' ', 1)[-1]})", f"guideline {n} ({g.short_en.split(' ', 1)[-1]})")


def _reasons(turn: Turn, fit: GuidelineFit, kb: KnowledgeBase) -> str:
    if fit.aspects:
        names = ", ".join(f'"{turn.pick(a.name, a.name_en)}"' for a in fit.aspects)
        return turn.pick(f"ลักษณะที่พบ: {names}", f"What I found: {names}.")
    return turn.pick(
        f"คำอธิบายโดยรวมใกล้เคียงกับโครงการแบบ{_short(kb, turn, fit.number)}",
        f"Overall the description reads like a {_short(kb, turn, fit.number)} project.",
    )


def _years_note(kb: KnowledgeBase, turn: Turn, numbers: list[int], asked_year: int | None) -> str:
    years = sorted({y for n in numbers for y in kb.guidelines[n].fiscal_years})
    years_text = ", ".join(str(y) for y in years)
    if asked_year is not None and asked_year not in years:
        return turn.pick(
            f"หมายเหตุ: เอกสารระบุแนวทางเหล่านี้สำหรับปีงบประมาณ พ.ศ. {years_text} "
            f"ไม่มีข้อมูลแนวทางของปีงบประมาณ พ.ศ. {asked_year}",
            f"Note: the sources give these guidelines for FY {years_text}; "
            f"there is no information on the guidelines for FY {asked_year}.",
        )
    return turn.pick(
        f"(แนวทางตามเอกสารของปีงบประมาณ พ.ศ. {years_text} การพิจารณาจริงเป็นของ สพร.)",
        f"(Guidelines as published for FY {years_text}; DGA makes the actual decision.)",
    )


def guideline_match_answer(kb: KnowledgeBase, turn: Turn, advice: Advice, *, asked_year: int | None = None) -> Answer:
    t, e = turn.pick, turn.end
    all_numbers = list(kb.guidelines)
    all_ids = [s for g in kb.guidelines.values() for s in g.sources]
    if not advice.fits:
        listing = "\n".join(f"- {_names(kb, turn, n)}" for n in kb.guidelines)
        if advice.outside:
            what = ", ".join(f'"{t(a.name, a.name_en)}"' for a in advice.outside)
            text = t(
                f"โครงการแบบนี้ไม่เข้าแนวทางใดของแผนงาน{e} เพราะเป็นงาน{what} ซึ่งไม่ใช่สิ่งที่แนวทางทั้ง 3 มุ่งสนับสนุน\n"
                f"แนวทางที่มีคือ\n{listing}\n{_years_note(kb, turn, all_numbers, asked_year)}",
                f"A project like this fits none of the plan's guidelines: it is {what}, which none of the three "
                f"guidelines is about.\nThe guidelines are:\n{listing}\n"
                f"{_years_note(kb, turn, all_numbers, asked_year)}",
            )
            title, confidence = t("ไม่เข้าแนวทางใด", "Fits no guideline"), 0.55
            terms = [t(a.name, a.name_en) for a in advice.outside]
        else:
            text = t(
                f"จากคำอธิบายนี้ {turn.me}ยังไม่พบลักษณะที่ตรงกับแนวทางใดชัดเจน{e} แนวทางที่มีคือ\n"
                f"{listing}\nลองเล่าเพิ่มว่าโครงการทำอะไร ให้ใคร เช่น อบรมบุคลากร สร้างระบบกลางที่ใช้ร่วมกัน "
                "หรือบริการประชาชนแบบเบ็ดเสร็จที่เชื่อมข้อมูลหลายหน่วยงาน",
                "From this description I cannot see a clear fit with any guideline. The guidelines are:\n"
                f"{listing}\nTell me more about what the project does and for whom, e.g. staff training, a shared "
                "central system, or a one-stop citizen service linking several agencies' data.",
            )
            title, confidence, terms = t("ยังระบุแนวทางไม่ได้", "No clear guideline"), 0.2, []
        return Answer(
            kind=AnswerKind.GUIDELINE_MATCH,
            text=with_sources(kb, turn, text, all_ids),
            title=title,
            confidence=confidence,
            sources=source_refs(kb, all_ids),
            matched_terms=terms,
            fiscal_year=asked_year,
            language=turn.language,
            suggestions=_suggestions(turn, None),
        )

    fits = advice.fits
    numbers = [f.number for f in fits]
    if len(fits) == 1:
        lead = t(
            f"โครงการนี้เข้ากับ{_short(kb, turn, fits[0].number)}{e}",
            f"This project fits {_short(kb, turn, fits[0].number)}.",
        )
    else:
        lead = t(
            f"โครงการนี้มีส่วนที่เข้ากับ 2 แนวทาง{e} คือ{_short(kb, turn, fits[0].number)} "
            f"และ{_short(kb, turn, fits[1].number)} (ส่วนที่ชัดกว่าอยู่ก่อน)",
            f"This project has parts under two guidelines: {_short(kb, turn, fits[0].number)} and "
            f"{_short(kb, turn, fits[1].number)} (the clearer first).",
        )
    lines = [lead]
    for f in fits:
        lines.append(f"{_names(kb, turn, f.number)}\n{_reasons(turn, f, kb)}")
    if advice.outside:
        what = ", ".join(f'"{t(a.name, a.name_en)}"' for a in advice.outside)
        lines.append(
            t(
                f"ส่วนที่เป็น{what} ไม่อยู่ในแนวทางใด",
                f"The part that is {what} falls under no guideline.",
            )
        )
    lines.append(_years_note(kb, turn, numbers, asked_year))
    best = fits[0].score
    if len(fits) == 2:
        # Naming two is saying "partly each, the decision is DGA's": never more than middling.
        confidence = round(min(0.55, 0.3 + 0.5 * fits[1].score), 2)
    else:
        runner = advice.scored[1].score if len(advice.scored) > 1 else 0.0
        confidence = round(min(0.95, 0.35 + 0.6 * best) * (1 - 0.4 * runner / best if best else 1), 2)
    ids = [s for n in numbers for s in kb.guidelines[n].sources]
    return Answer(
        kind=AnswerKind.GUIDELINE_MATCH,
        text=with_sources(kb, turn, "\n".join(lines), ids),
        title=t(f"แนวทางที่ {' และ '.join(map(str, numbers))}", f"Guideline {' and '.join(map(str, numbers))}"),
        confidence=max(0.0, confidence),
        sources=source_refs(kb, ids),
        guideline=numbers[0],
        guidelines=numbers,
        matched_terms=[t(a.name, a.name_en) for f in fits for a in f.aspects],
        fiscal_year=asked_year,
        language=turn.language,
        suggestions=_suggestions(turn, numbers[0]),
    )


def _suggestions(turn: Turn, n: int | None) -> list[str]:
    if turn.en:
        first = [f"What is guideline {n}?"] if n else ["What are the guidelines?"]
        return first + ["What does a project need?", "Is next fiscal year accepting requests?"]
    first = [f"แนวทางที่ {n} คืออะไร"] if n else ["แนวทางมีอะไรบ้าง"]
    return first + ["โครงการต้องมีลักษณะอย่างไร", "ปีงบหน้ายังยื่นได้ไหม"]


def guideline_entries(kb: KnowledgeBase) -> list[FaqEntry]:
    """One FAQ entry per guideline ("แนวทางที่ 2 คืออะไร"), generated so its facts live in one place."""
    entries = []
    for n, g in kb.guidelines.items():
        english = g.name_en.rsplit("(", 1)[-1].rstrip(")") if "(" in g.name_en else g.name_en
        examples = "\n".join(f"- {e}" for e in g.examples)
        examples_en = "\n".join(f"- {e}" for e in g.examples_en)
        years = ", ".join(str(y) for y in g.fiscal_years)
        entries.append(
            FaqEntry(
                id=f"guideline-{n}",
                title=f"แนวทางที่ {n}",
                title_en=f"Guideline {n}",
                guideline=n,
                # "แนวทางที่ 2" is routed by number before matching; variants by number alone would look like
                # "3 แนวทาง" (the three guidelines) to an order-blind scorer.
                questions=[g.name, english, *(f"{a} คืออะไร" for a in g.aliases)],
                questions_en=[f"{english} guideline", *(f"what is {a}" for a in g.aliases)],
                answer=f"{g.summary}\n(ปีงบประมาณ พ.ศ. {years})"
                + (f"\nลักษณะโครงการที่เข้าข่าย เช่น\n{examples}" if examples else ""),
                answer_en=f"{g.summary_en}\n(FY {years})"
                + (f"\nProjects such as:\n{examples_en}" if examples_en else ""),
                sources=g.sources,
                related=[f"guideline-{m}" for m in kb.guidelines if m != n]
                + (["guidelines-overview"] if "guidelines-overview" in kb.faq else []),
            )
        )
    return entries
