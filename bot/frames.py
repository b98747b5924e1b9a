"""Conversation frames: what the last answer was about, kept so that the next message can lean on it.

A frame holds the answer's intent (the rule that made it), the question it answered, its slots (fiscal year,
guidelines, entry, body), the options it showed (numbered), the subscription it offered, its language, its
sources and the reason it rests on. Follow-up acts resolve against it: "why" gives the reason, "source" the
sources, "the second one" an option, "in English" the same question in the other language, "I meant FY X" and
"what about X" the same question with a new slot, yes/no the offer. A message on a new topic replaces it.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from bot.answer import Answer, SourceRef

_NUMBERED = re.compile(r"^\s*(\d{1,2})[.)]\s+(.+)$", re.MULTILINE)
MAX_OPTIONS = 9


class Frame(BaseModel):
    intent: str  # the rule that answered, e.g. "status.relative_year"
    question: str  # what was answered (the message, or the part of it)
    language: str = "th"
    fiscal_year: int | None = None
    guidelines: list[int] = Field(default_factory=list)
    entry_id: str | None = None
    body: str | None = None
    # Numbered items the answer showed, each as the question that asks for it ("แนวทางที่ 2 คืออะไร").
    options: list[str] = Field(default_factory=list)
    offer: int | None = None  # the fiscal year whose notifications the answer offered
    sources: list[SourceRef] = Field(default_factory=list)
    reason: str = ""  # what the answer rests on, for "why"

    @property
    def topic(self) -> str:
        return self.intent.split(".", 1)[0]


def frame_of(answer: Answer, question: str, *, options: list[str] | None = None, body: str | None = None) -> Frame:
    """The frame an answer leaves behind. Options: the questions behind the numbered items it showed (or, when
    the composer gave none, its suggestions, which the chat shows as buttons)."""
    subscribe = next((o.action.fiscal_year for o in answer.offers if o.action.kind.value == "subscribe"), None)
    return Frame(
        intent=answer.intent or answer.kind.value,
        question=question,
        language=answer.language,
        fiscal_year=answer.fiscal_year,
        guidelines=list(answer.guidelines) or ([answer.guideline] if answer.guideline else []),
        entry_id=answer.entry_id,
        body=body,
        options=(options if options is not None else list(answer.suggestions))[:MAX_OPTIONS],
        offer=subscribe,
        sources=list(answer.sources),
        reason=reason_of(answer),
    )


def reason_of(answer: Answer) -> str:
    """What an answer rests on: its explanation, without the source line and the as-of line (which "where from"
    and the answer itself give) and without the invitations that follow it."""
    body = answer.text.split("\n\n")[0]
    lines = [ln for ln in body.split("\n") if ln.strip()]
    kept = [ln for ln in lines if not ln.lstrip().startswith(_NOT_REASONS)]
    return "\n".join(kept or lines[:1])


_NOT_REASONS = ("ที่มา:", "Source:", "ข้อมูล ณ", "As of", "หากต้องการให้", "To be told", "กรุณาสอบถาม", "Please ask")


def numbered_items(text: str) -> list[str]:
    """The items of a numbered list in an answer ("1. แนวทางที่ 1 ...")."""
    return [m.group(2).strip() for m in _NUMBERED.finditer(text)]
