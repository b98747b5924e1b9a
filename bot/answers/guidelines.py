"""guideline_match: which of the guidelines a described project fits, and why."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.analysis import Analyzed, TextAnalyzer, contains_phrase, is_latin
from bot.answer import Answer, AnswerKind
from bot.answers.context import Turn, source_refs, with_sources
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import FaqEntry, Guideline

CLOSE_RATIO = 0.6  # a runner-up with at least this share of the best score is named too
DIMINISH = 0.7
FUZZY_MIN = 88  # rapidfuzz ratio for a misspelt keyword (ฝึกอบรบ for ฝึกอบรม)


@dataclass(frozen=True)
class _Keyword:
    phrase: str  # normalized
    canonical: str  # canonical, space-free
    weight: float


@dataclass(frozen=True)
class GuidelineScore:
    number: int
    score: float
    terms: tuple[str, ...]


class GuidelineClassifier:
    def __init__(self, guidelines: dict[int, Guideline], analyzer: TextAnalyzer) -> None:
        self._analyzer = analyzer
        self._keywords: dict[int, list[_Keyword]] = {}
        for n, g in guidelines.items():
            strong = {k.casefold() for k in g.strong_keywords}
            words = list(dict.fromkeys([*g.strong_keywords, *g.keywords]))
            self._keywords[n] = [
                _Keyword(p, analyzer.canonical_phrase(p), 2.0 if w.casefold() in strong else 1.0)
                for w in words
                if (p := analyzer.analyze(w).normalized)
            ]

    def classify(self, a: Analyzed) -> list[GuidelineScore]:
        """Guidelines with any evidence, best first."""
        results = []
        for n, keywords in self._keywords.items():
            by_length = sorted(keywords, key=lambda k: len(k.phrase), reverse=True)
            hits: list[tuple[_Keyword, str]] = []  # keyword, and the words the user wrote for it
            # Exact words first; a misspelling only counts for a keyword no exact hit already covers.
            for exact in (True, False):
                for k in by_length:
                    # A keyword inside a longer one already found (บุคลากร in บุคลากรภาครัฐ) is not new evidence.
                    if any(k.phrase in h.phrase or (k.canonical and k.canonical in h.canonical) for h, _ in hits):
                        continue
                    if exact and contains_phrase(a, k.phrase, k.canonical):
                        hits.append((k, k.phrase))
                    elif not exact and (token := self._fuzzy_hit(a, k)):
                        # The same written word must not count twice (exactly for one keyword, fuzzily for another).
                        if not any(token in h.phrase or h.phrase in token for h, _ in hits):
                            hits.append((k, token))
            if hits:
                # Diminishing returns: five words about platforms should not drown two clear words about training.
                weights = sorted((k.weight for k, _ in hits), reverse=True)
                score = sum(w * DIMINISH**i for i, w in enumerate(weights))
                results.append(GuidelineScore(n, round(score, 3), tuple(dict.fromkeys(t for _, t in hits))))
        return sorted(results, key=lambda r: r.score, reverse=True)

    @staticmethod
    def _fuzzy_hit(a: Analyzed, k: _Keyword) -> str | None:
        """The user's word that is a misspelling of this keyword, if any."""
        if is_latin(k.phrase) or len(k.phrase) < 5 or " " in k.phrase:
            return None
        return next((t for t in a.tokens if len(t) >= 4 and fuzz.ratio(t, k.phrase) >= FUZZY_MIN), None)


def _names(kb: KnowledgeBase, turn: Turn, n: int) -> str:
    g = kb.guidelines[n]
    return turn.pick(f"แนวทางที่ {n} {g.name}", f"Guideline {n}: {g.name_en}")


def guideline_match_answer(
    kb: KnowledgeBase, turn: Turn, scores: list[GuidelineScore], *, asked_year: int | None = None
) -> Answer:
    t = turn.pick
    ids: list[str] = []
    if not scores:
        listing = "\n".join(f"- {_names(kb, turn, n)}" for n in kb.guidelines)
        text = t(
            "จากคำอธิบายนี้ยังไม่พบลักษณะที่ตรงกับแนวทางใดชัดเจน แนวทางที่มีคือ\n"
            f"{listing}\nลองเล่าเพิ่มว่าโครงการทำอะไร ให้ใคร เช่น อบรมบุคลากร สร้างระบบกลางที่ใช้ร่วมกัน "
            "หรือบริการประชาชนแบบเบ็ดเสร็จที่เชื่อมข้อมูลหลายหน่วยงาน",
            "From this description the project does not clearly fit any guideline. The guidelines are:\n"
            f"{listing}\nTell me more about what the project does and for whom, e.g. staff training, a shared "
            "central system, or a one-stop citizen service linking several agencies' data.",
        )
        ids = [s for g in kb.guidelines.values() for s in g.sources]
        return Answer(
            kind=AnswerKind.GUIDELINE_MATCH,
            text=with_sources(kb, turn, text, ids),
            title=t("ยังระบุแนวทางไม่ได้", "No clear guideline"),
            confidence=0.2,
            sources=source_refs(kb, ids),
            language=turn.language,
            suggestions=_suggestions(turn, None),
        )

    best = scores[0]
    named = [best] + [s for s in scores[1:2] if s.score >= CLOSE_RATIO * best.score]
    lines = []
    for i, s in enumerate(named):
        why = ", ".join(f'"{w}"' for w in s.terms)
        if i == 0:
            lines.append(
                t(
                    f"โครงการนี้น่าจะเข้ากับ{_names(kb, turn, s.number)}",
                    f"This project most likely fits {_names(kb, turn, s.number)}.",
                )
            )
        else:
            lines.append(
                t(
                    f"แต่ก็ใกล้เคียงกับ{_names(kb, turn, s.number)} เช่นกัน",
                    f"It is also close to {_names(kb, turn, s.number)}.",
                )
            )
        lines.append(t(f"เหตุผล: คำอธิบายมีคำว่า {why}", f"Why: the description mentions {why}."))
        ids += kb.guidelines[s.number].sources
    runner_up = scores[1].score if len(scores) > 1 else 0.0
    confidence = round(min(0.95, 0.45 + 0.15 * best.score) * (1 - 0.5 * runner_up / best.score), 2)
    level = t("สูง", "high") if confidence >= 0.75 else t("ปานกลาง", "medium") if confidence >= 0.5 else t("ต่ำ", "low")
    lines.append(t(f"ความมั่นใจ: {level}", f"Confidence: {level}."))
    years = sorted({y for s in named for y in kb.guidelines[s.number].fiscal_years})
    years_text = ", ".join(str(y) for y in years)
    if asked_year is not None and asked_year not in years:
        lines.append(
            t(
                f"หมายเหตุ: เอกสารระบุแนวทางเหล่านี้สำหรับปีงบประมาณ พ.ศ. {years_text} "
                f"ไม่มีข้อมูลแนวทางของปีงบประมาณ พ.ศ. {asked_year}",
                f"Note: the sources give these guidelines for FY {years_text}; "
                f"there is no information on the guidelines for FY {asked_year}.",
            )
        )
    else:
        lines.append(
            t(
                f"(แนวทางตามเอกสารของปีงบประมาณ พ.ศ. {years_text} การพิจารณาจริงเป็นของ สพร.)",
                f"(Guidelines as published for FY {years_text}; DGA makes the actual decision.)",
            )
        )
    return Answer(
        kind=AnswerKind.GUIDELINE_MATCH,
        text=with_sources(kb, turn, "\n".join(lines), ids),
        title=t(f"แนวทางที่ {best.number}", f"Guideline {best.number}"),
        confidence=confidence,
        sources=source_refs(kb, ids),
        guideline=best.number,
        guidelines=[s.number for s in named],
        matched_terms=[w for s in named for w in s.terms],
        fiscal_year=asked_year,
        language=turn.language,
        suggestions=_suggestions(turn, best.number),
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
