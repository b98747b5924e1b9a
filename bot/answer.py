"""The one answer type every channel renders."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field


class AnswerKind(StrEnum):
    FISCAL_YEAR_STATUS = "fiscal_year_status"
    GUIDELINE_MATCH = "guideline_match"
    ELIGIBILITY = "eligibility"
    FAQ = "faq"
    GREETING = "greeting"
    HELP = "help"
    GUIDED_CHECK = "guided_check"  # a step of the guided project check (asks the user for input)
    FALLBACK = "fallback"


class SourceRef(BaseModel):
    """A source document an answer's facts come from."""

    id: str
    title: str
    posted: date | None = None
    file: str | None = None


class Answer(BaseModel):
    kind: AnswerKind
    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    suggestions: list[str] = Field(default_factory=list)
    sources: list[SourceRef] = Field(default_factory=list)
    fiscal_year: int | None = None  # B.E.
    accepting: bool | None = None
    guideline: int | None = None  # 1-3, the best fit or the guideline asked about
    language: str = "th"  # "th" or "en"
    title: str | None = None  # short heading for cards (LINE Flex, console)
    entry_id: str | None = None  # the knowledge entry that answered, if any
    guidelines: list[int] = Field(default_factory=list)  # every guideline named (two when close)
    matched_terms: list[str] = Field(default_factory=list)  # why: the words that matched
    as_of: date | None = None  # the "today" a date-dependent answer used
    knowledge_version: str | None = None
    # A message with several questions: the Answer of each, in order (`text` joins theirs). Empty for one question.
    parts: list[Answer] = Field(default_factory=list)
