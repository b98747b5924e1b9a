"""One Answer for a message that asked several questions: `parts` holds each question's answer."""

from __future__ import annotations

from bot.answer import Answer, AnswerKind, SourceRef

MAX_SUGGESTIONS = 4


def _same(a: Answer, b: Answer) -> bool:
    """Two parts that say the same thing (one entry answering two wordings); a named body or a year makes them two."""
    return (a.kind, a.entry_id, a.fiscal_year, a.guideline, tuple(a.guidelines), a.text) == (
        b.kind,
        b.entry_id,
        b.fiscal_year,
        b.guideline,
        tuple(b.guidelines),
        b.text,
    )


def _plain_fallback(a: Answer) -> bool:
    """A fallback that only says "I can't answer this" (not one about a year or a topic the sources lack)."""
    return a.kind is AnswerKind.FALLBACK and a.fiscal_year is None and not a.sources


def combine(parts: list[Answer], language: str) -> Answer:
    """The answers in order, as one Answer whose top-level fields come from the first part that has them.

    Two parts that say the same thing are one; a part the assistant could not answer at all is dropped when
    another part was answered (its question is in the message the user can re-ask)."""
    kept: list[Answer] = []
    for p in parts:
        if not any(_same(p, k) for k in kept):
            kept.append(p)
    if any(not _plain_fallback(p) for p in kept):
        kept = [p for p in kept if not _plain_fallback(p)]
    if len(kept) == 1:
        return kept[0]
    first = kept[0]
    suggestions: list[str] = []
    for p in kept:
        for s in p.suggestions[:2]:
            if s not in suggestions:
                suggestions.append(s)
    sources: list[SourceRef] = []
    for p in kept:
        sources += [s for s in p.sources if s.id not in {x.id for x in sources}]
    with_year = next((p for p in kept if p.fiscal_year is not None), None)
    with_guideline = next((p for p in kept if p.guideline is not None), None)
    return Answer(
        kind=first.kind,
        intent=first.intent,
        text="\n\n".join(p.text for p in kept),
        confidence=min(p.confidence for p in kept),
        suggestions=suggestions[:MAX_SUGGESTIONS],
        sources=sources,
        fiscal_year=with_year.fiscal_year if with_year else None,
        accepting=next((p.accepting for p in kept if p.accepting is not None), None),
        guideline=with_guideline.guideline if with_guideline else None,
        guidelines=next((p.guidelines for p in kept if p.guidelines), []),
        language=language,
        title=first.title,
        entry_id=first.entry_id,
        matched_terms=[t for p in kept for t in p.matched_terms],
        as_of=next((p.as_of for p in kept if p.as_of is not None), None),
        parts=kept,
        offers=list({o.action: o for p in kept for o in p.offers}.values()),
        action=next((p.action for p in kept if p.action is not None), None),
    )
