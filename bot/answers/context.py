"""What every composer needs to know about the question being answered, and how the assistant speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.analysis import Analyzed
from bot.answer import SourceRef
from bot.formatting import format_date, source_line
from bot.knowledge.loader import KnowledgeBase

LEAD_MAX_CHARS = 300  # the answer's first paragraph: what a chat bubble shows before "read more"
_ENDINGS = ("ค่ะ", "คะ", "ครับ", "นะ", "จ้ะ", "จ้า")


@dataclass(frozen=True)
class Voice:
    """The assistant's polite register in Thai (BUDGETBOT_POLITE_PARTICLE): the particle that ends a statement,
    the one that ends a question, and how it calls itself (it speaks in the first person)."""

    particle: str = "ค่ะ"  # "ค่ะ", "ครับ" or "" (the setting's "none")

    @classmethod
    def from_setting(cls, value: str) -> Voice:
        return cls("" if value == "none" else value)

    @property
    def end(self) -> str:
        return self.particle

    @property
    def ask(self) -> str:
        return {"ค่ะ": "คะ"}.get(self.particle, self.particle)

    @property
    def me(self) -> str:
        return {"ค่ะ": "ดิฉัน", "ครับ": "ผม"}.get(self.particle, "เรา")

    def polite(self, sentence: str) -> str:
        """The sentence ended with the particle, unless it already ends politely (or there is none)."""
        s = sentence.rstrip()
        if not self.particle or not s or s.endswith(_ENDINGS) or s[-1] in ".)!?:":
            return s
        return s + self.particle


class Spoken:
    """How the assistant speaks to someone in `language` with `voice` (Turn, and Speech for messages without a
    question): the choice of language, the particle that ends a statement or a question, the first person."""

    language: str  # "th" or "en"
    voice: Voice

    @property
    def en(self) -> bool:
        return self.language == "en"

    def pick(self, th: str, en: str) -> str:
        return en if self.en else th

    @property
    def end(self) -> str:
        """The polite particle that ends a Thai statement ("" in English)."""
        return "" if self.en else self.voice.end

    @property
    def ask(self) -> str:
        return "" if self.en else self.voice.ask

    @property
    def me(self) -> str:
        return "I" if self.en else self.voice.me


@dataclass(frozen=True)
class Turn(Spoken):
    question: Analyzed
    language: str  # "th" or "en"
    today: date
    voice: Voice = field(default_factory=Voice)


def lead_first(text: str, turn: Turn, limit: int = LEAD_MAX_CHARS) -> str:
    """The answer's first paragraph kept to about `limit` characters (cut at a phrase boundary; the rest follows
    as details), ended politely in Thai."""
    first, _, rest = text.partition("\n")
    if len(first) > limit:
        cut = first.rfind(" ", 0, limit)
        if cut > limit // 3:
            first, rest = first[:cut], first[cut + 1 :] + ("\n" + rest if rest else "")
    if not turn.en:
        first = turn.voice.polite(first)
    return f"{first}\n{rest}" if rest else first


def source_refs(kb: KnowledgeBase, ids: list[str]) -> list[SourceRef]:
    seen: list[str] = []
    for i in ids:
        if i not in seen:
            seen.append(i)
    return [SourceRef(id=s.id, title=s.title, posted=s.posted, file=s.file, url=s.url) for s in kb.source_refs(seen)]


def with_sources(kb: KnowledgeBase, turn: Turn, text: str, ids: list[str]) -> str:
    line = source_line(kb.source_refs(list(dict.fromkeys(ids))), turn.language)
    return f"{text}\n\n{line}" if line else text


def as_of_line(turn: Turn, fiscal_year_today: int) -> str:
    day = format_date(turn.today, turn.language)
    return turn.pick(
        f"ข้อมูล ณ วันที่ {day} (วันนี้อยู่ในปีงบประมาณ พ.ศ. {fiscal_year_today})",
        f"As of {day} (today is in fiscal year B.E. {fiscal_year_today}).",
    )


def where_to_ask(kb: KnowledgeBase, turn: Turn) -> str:
    return turn.pick(turn.voice.polite(kb.contact.where_to_ask), kb.contact.where_to_ask_en)
