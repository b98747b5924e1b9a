"""What every composer needs to know about the question being answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.analysis import Analyzed
from bot.answer import SourceRef
from bot.formatting import format_date, source_line
from bot.knowledge.loader import KnowledgeBase


@dataclass(frozen=True)
class Turn:
    question: Analyzed
    language: str  # "th" or "en"
    today: date

    @property
    def en(self) -> bool:
        return self.language == "en"

    def pick(self, th: str, en: str) -> str:
        return en if self.en else th


def source_refs(kb: KnowledgeBase, ids: list[str]) -> list[SourceRef]:
    seen: list[str] = []
    for i in ids:
        if i not in seen:
            seen.append(i)
    return [SourceRef(id=s.id, title=s.title, posted=s.posted, file=s.file) for s in kb.source_refs(seen)]


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
    return turn.pick(kb.contact.where_to_ask, kb.contact.where_to_ask_en)
