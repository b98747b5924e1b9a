"""The one answer type every channel renders."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class AnswerKind(StrEnum):
    FISCAL_YEAR_STATUS = "fiscal_year_status"
    GUIDELINE_MATCH = "guideline_match"
    ELIGIBILITY = "eligibility"
    FAQ = "faq"
    GREETING = "greeting"
    HELP = "help"
    GUIDED_CHECK = "guided_check"  # a step of the guided project check (asks the user for input)
    FALLBACK = "fallback"
    SUBSCRIPTION = "subscription"  # about being told when a fiscal year opens: subscribing, unsubscribing
    NOTIFICATION = "notification"  # a message nobody asked for just then: a window, a reminder, an announcement


class ActionKind(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


class SubscriptionAction(BaseModel):
    """What a person asked the assistant to do about notifications, channel-neutral: subscribe to fiscal year N, or
    unsubscribe from N (None: from every year). The core only recognises it; the pipeline carries it out."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    fiscal_year: int | None = None

    def encode(self) -> str:
        """The stored form, e.g. "subscribe:2571", "unsubscribe:all"."""
        return f"{self.kind.value}:{self.fiscal_year if self.fiscal_year is not None else 'all'}"

    @classmethod
    def subscribe(cls, year: int) -> SubscriptionAction:
        return cls(kind=ActionKind.SUBSCRIBE, fiscal_year=year)

    @classmethod
    def unsubscribe(cls, year: int | None = None) -> SubscriptionAction:
        return cls(kind=ActionKind.UNSUBSCRIBE, fiscal_year=year)

    @classmethod
    def decode(cls, text: str) -> SubscriptionAction | None:
        kind, _, year = text.partition(":")
        if kind not in ActionKind.__members__.values() or not (year == "all" or year.isdigit()):
            return None
        if kind == ActionKind.SUBSCRIBE and not year.isdigit():
            return None
        return cls(kind=ActionKind(kind), fiscal_year=int(year) if year.isdigit() else None)


class Offer(BaseModel):
    """An action an answer offers as a button (LINE quick-reply postback, Telegram inline button)."""

    action: SubscriptionAction
    label: str  # the button's label (short: LINE allows 20 characters)
    text: str  # what the chat shows as the user's message when it is tapped (LINE displayText)


class SourceRef(BaseModel):
    """A source document an answer's facts come from."""

    id: str
    title: str
    posted: date | None = None
    file: str | None = None
    url: str | None = None  # the document's public page, shown beside the citation


class Answer(BaseModel):
    kind: AnswerKind
    # The rule of the understanding table that produced it ("status.relative_year", "fact.entry", "status.why"):
    # its first part is the topic (the kind of question, or the topic a follow-up continued).
    intent: str | None = None
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
    # Buttons for actions (a status answer without information offers "tell me when it opens").
    offers: list[Offer] = Field(default_factory=list)
    # An action the question asked for ("แจ้งเตือนเมื่อปีงบ 2571 เปิดรับ"): carried out by the chat pipeline, which
    # then replaces the text with the confirmation (the console and the CLI only say where it works).
    action: SubscriptionAction | None = None
