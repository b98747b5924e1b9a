"""Typed schema of knowledge/*.yaml. Unknown keys are errors, so a misspelt field is caught at load."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Id = str  # lowercase letters, digits, '-', '_', '.'
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    posted: date | None = None  # when it was posted or published
    file: str = Field(min_length=1)  # a file in the sources folder (BUDGETBOT_SOURCES_DIR, default ../shared/sources)
    summary: str = ""
    # The document's public page (http or https), shown beside the citation.
    url: str | None = Field(default=None, pattern=r"^https?://[^\s<>\"]+$", max_length=500)
    # How answers cite it; without one, "DGA ลงวันที่ <posted>" (the DGA pages).
    cite: str | None = None
    cite_en: str | None = None


class Contact(Strict):
    """Where to send users the knowledge cannot help. No phone numbers or addresses the sources lack."""

    name: str
    name_en: str
    where_to_ask: str
    where_to_ask_en: str
    sources: list[str] = Field(min_length=1)


class Aspect(Strict):
    """Something a project delivers, or for whom, named the way a user should read it as a reason.

    Found in a project description when every group in `all_of` has a word in it (Thai words as substrings,
    English ones as whole words), e.g. a learning word and a word for government staff: training people who
    are not staff is not Digital Skills."""

    name: str
    name_en: str
    all_of: list[list[str]] = Field(min_length=1)

    @field_validator("all_of")
    @classmethod
    def _no_empty_group(cls, v: list[list[str]]) -> list[list[str]]:
        if any(not [w for w in group if w.strip()] for group in v):
            raise ValueError("an all_of group has no words")
        return v


class Guideline(Strict):
    number: int = Field(ge=1, le=9)
    name: str
    name_en: str
    short: str = Field(max_length=20)  # button label
    short_en: str = Field(max_length=20)
    summary: str
    summary_en: str
    # Other names people use for the guideline itself ("Digital Skills", "End-to-End"): asking about one of
    # them asks what the guideline is.
    aliases: list[str] = Field(default_factory=list)
    # Words that point to this guideline in a project description (Thai and English, any case).
    keywords: list[str] = Field(min_length=1)
    # Words that point strongly (count double), e.g. the guideline's own English name.
    strong_keywords: list[str] = Field(default_factory=list)
    # What a project that fits delivers, and for whom: the reasons the advisor gives.
    aspects: list[Aspect] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)  # kinds of projects, shown to users
    examples_en: list[str] = Field(default_factory=list)
    fiscal_years: list[int] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)


class Window(Strict):
    """A request window; either end may be unknown."""

    opens: date | None = None
    closes: date | None = None
    sources: list[str] = Field(min_length=1)


class YearStatus(Strict):
    """A status the sources state outright (it wins over any rule)."""

    accepting: bool
    statement: str
    statement_en: str
    sources: list[str] = Field(min_length=1)


class Figure(Strict):
    label: str
    label_en: str
    value: str
    sources: list[str] = Field(min_length=1)


class FiscalYear(Strict):
    year: int = Field(ge=2500, le=2700)  # B.E.
    window: Window | None = None
    status: YearStatus | None = None
    figures: list[Figure] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    notes_en: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)


class FaqEntry(Strict):
    id: str = Field(pattern=ID_PATTERN)
    kind: Literal["faq", "eligibility"] = "faq"
    title: str
    title_en: str
    questions: list[str] = Field(min_length=1)  # Thai variants: formal, informal, short
    questions_en: list[str] = Field(default_factory=list)
    answer: str = Field(min_length=1)
    answer_en: str = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    related: list[str] = Field(default_factory=list)
    guideline: int | None = None
    fiscal_year: int | None = None

    @field_validator("questions", "questions_en")
    @classmethod
    def _no_blank_questions(cls, v: list[str]) -> list[str]:
        if any(not q.strip() for q in v):
            raise ValueError("a question variant is empty")
        return v


class SynonymGroup(Strict):
    """Words that mean the same; every variant is read as `canonical` when matching.

    `spelling: true` marks misspellings (ดิจิตอล for ดิจิทัล): they are corrected inside any word, before the
    text is cut into words, so that a misspelt long name still reads as the name."""

    canonical: str
    variants: list[str] = Field(min_length=1)
    spelling: bool = False


class Intents(Strict):
    """Cue words that route a question to a kind of answer. Editable by DGA staff, like the rest."""

    status_cues: list[str]  # เปิดรับ, หมดเขต, ยังทัน ...: asking whether requests are accepted
    request_verbs: list[str]  # ยื่น, ส่งคำขอ, submit ...: about requesting; a status question only with a year
    guideline_cues: list[str]  # แนวทางไหน, เข้าแนวทาง ...: asking which guideline fits
    eligibility_cues: list[str]  # ใครขอได้, มีสิทธิ์ ...: asking who may request
    # Kinds of organisation ("มหาวิทยาลัย", "อบต"): with a request word, the question is whether they may request.
    organizations: list[str] = Field(default_factory=list)
    guided_check_cues: list[str]  # โครงการเราขอได้ไหม: starts the guided check
    greetings: list[str]
    help: list[str]
    domain_terms: list[str]  # words that show the question is about the plan at all
    out_of_scope_terms: list[str]  # topics we never answer (weather, food, passports, taxes ...)
    # In the plan's domain but not in the sources (phone numbers, disbursement rates ...): "no information".
    unknown_topics: list[str] = Field(default_factory=list)
    follow_up_cues: list[str]  # แล้ว ... ล่ะ: the rest of the question comes from the conversation
    cancel: list[str]  # ยกเลิก: leave the guided check
    # Small talk: answered with a short friendly reply, never with "out of scope".
    thanks: list[str] = Field(default_factory=list)  # ขอบคุณ, thx
    acknowledgements: list[str] = Field(default_factory=list)  # โอเค, รับทราบ, got it
    laughter: list[str] = Field(default_factory=list)  # 555, ฮ่าๆ, lol
    about_the_bot: list[str] = Field(default_factory=list)  # บอท, you: "what is this bot for" asks for help
    # Words that make a clause a question (ไหม, อะไร, when ...): a message is cut into its questions only where
    # each part asks something.
    question_words: list[str] = Field(default_factory=list)
    # Clause cues that start another question in the same message (อีกเรื่อง, also); removed from the part.
    next_question_cues: list[str] = Field(default_factory=list)
    # Openers that carry no question of their own (ขอสอบถาม, อยากทราบว่า, I have a question).
    preambles: list[str] = Field(default_factory=list)
    # The fiscal-year calendar itself: which fiscal year it is now, the months a fiscal year spans, which
    # fiscal years are still open.
    calendar_now: list[str] = Field(default_factory=list)
    calendar_months: list[str] = Field(default_factory=list)
    calendar_open: list[str] = Field(default_factory=list)
    # A figure of one fiscal year (count, amount): asked for another year, the answer says the sources give it
    # only for the year they do.
    figure_words: list[str] = Field(default_factory=list)
    # What / how / who: with a request word and a year, a question about the process, not about the status.
    open_question_words: list[str] = Field(default_factory=list)
    # Asking to be told when a fiscal year opens ("แจ้งเตือนเมื่อ", "notify me"), and to stop ("ยกเลิกการแจ้งเตือน").
    subscribe_cues: list[str] = Field(default_factory=list)
    unsubscribe_cues: list[str] = Field(default_factory=list)
    # Asking to confirm what the message states ("ใช่ไหม", "right?"): a figure or year in it that the sources give
    # otherwise is answered "no, the source says ...".
    confirm_cues: list[str] = Field(default_factory=list)


class KnowledgeFile(Strict):
    """One YAML file: any of the sections; sections from all files are merged."""

    sources: list[Source] = Field(default_factory=list)
    contact: Contact | None = None
    guidelines: list[Guideline] = Field(default_factory=list)
    # Kinds of project no guideline covers (buying equipment, construction, routine running costs).
    outside_guidelines: list[Aspect] = Field(default_factory=list)
    fiscal_years: list[FiscalYear] = Field(default_factory=list)
    faq: list[FaqEntry] = Field(default_factory=list)
    synonyms: list[SynonymGroup] = Field(default_factory=list)
    intents: Intents | None = None
    help_examples: list[str] = Field(default_factory=list)
    help_examples_en: list[str] = Field(default_factory=list)
