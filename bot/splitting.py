"""Cutting one message into the questions it asks (at most 3).

Staff often ask several things at once: "ปี65ยังทันไหม แล้วปี72ล่ะ", a project description with a question
about its guideline and another about a fiscal year, "Who can apply? Also, is FY2028 open yet?". The message
is cut at clause cues (new lines, "?", "แล้ว ...", " และ ...", "อีกเรื่อง", "also", a polite particle before
another sentence), then the pieces are grouped: a piece that asks nothing (a project description, "พอดีกำลัง
วางแผน...") goes with the question after it, greetings, thanks and openers ("ขอสอบถามค่ะ") are dropped. Only
when two or more pieces each ask something is the message answered in parts; otherwise it is one question
and is answered whole, exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.analysis import Analyzed, TextAnalyzer
from bot.cues import PhraseSet

MAX_PARTS = 3

_NUMBERING = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-•*·]|ข้อ\s?\d{1,2}[.:)]?)\s*")
# Where a new clause may start. Each is a zero-width position (or a separator to drop) in the raw text.
_BOUNDARIES = re.compile(
    r"(?<=[?？!])\s*"  # after a question mark
    r"|\s+(?=แล้ว)"  # "...ไหม แล้วปี 72 ล่ะ": a space before แล้ว (ไปแล้ว, เข้าใจแล้ว have none)
    r"|\s+(?=และ)"  # "...หรือยัง และปีงบ 71 ...": a space before และ
    r"|(?:(?<=ครับ)|(?<=ค่ะ)|(?<=คะ)|(?<=คับ)|(?<=ค่า)|(?<=จ้า))\s+"  # a polite particle ends a sentence
    r"|(?<=[a-z0-9)][.;])\s+(?=[a-z])"  # an English sentence ends
    r"|\s+(?=\(?[1-9][.)]\s?\D)"  # "... 2. ..." or "... 2) ...": the next item of a list typed on one line
    r"|\s+[/+]\s+"  # "หกด้านมีอะไรบ้าง / แนวทางมีกี่ข้อ", "ปี 71 เปิดเมื่อไหร่ + ช่วยเตือนด้วย"
    r"|\s+(?=and\s+(?:who|what|when|where|which|how|is|are|can|could|do|does|did|should|will|also)\b)",
    re.IGNORECASE,
)
# A list typed as a list: "1. ... 2. ...", "1) ... 2) ...", "ข้อ 1 ... ข้อ 2 ...", "ข้อแรก ... ข้อสอง ...", bullets at the
# start of lines. Each item is a question of its own, whatever it looks like.
_ITEM = re.compile(
    r"(?:^|(?<=\s))(?:\(?[1-9][.)](?!\d)|\(?[a-d]\)|ข้อ\s?(?:[1-9](?!\d)|แรก|สอง|สาม|ที่\s?[1-9])[.:)]?)\s*"
    r"|^\s*[-•*·]\s+|(?<=\s)•\s+",
    re.MULTILINE,
)
# A clause that completes the one before it ("... ว่า ...", "... whether ..."), never a question of its own.
_COMPLEMENT = re.compile(r"^(?:ว่า(?!ด้วย)|whether\b|if\b|that\b)", re.IGNORECASE)
_LEADING_JOINERS = re.compile(r"^(?:และ|and|,|;|:|-)\s*", re.IGNORECASE)
_TRAILING_AFTER_CUE = re.compile(r"^(?:\s*(?:นะคะ|นะครับ|นะ|คือ|ครับ|ค่ะ|คะ|ก็คือ|[,:;.\-–]))+\s*")


@dataclass(frozen=True)
class _Piece:
    text: str
    analyzed: Analyzed


class QuestionSplitter:
    def __init__(
        self,
        analyzer: TextAnalyzer,
        next_question_cues: list[str],
        *,
        asks: Callable[[Analyzed], bool],
        says_nothing: Callable[[Analyzed], bool],
        max_parts: int = MAX_PARTS,
    ) -> None:
        self._analyzer = analyzer
        self._asks = asks
        self._says_nothing = says_nothing
        self._max = max_parts
        cues = sorted({c.strip() for c in next_question_cues if c.strip()}, key=len, reverse=True)
        self._cue = (
            re.compile("|".join(rf"(?<![a-z]){re.escape(c)}(?![a-z])" for c in cues), re.IGNORECASE) if cues else None
        )
        self._cue_set = PhraseSet(analyzer, next_question_cues)

    def split(self, text: str, analyze: Callable[[str], Analyzed] | None = None) -> list[str]:
        """The questions of a message, in order: [text] itself when it asks one thing (or nothing).

        `analyze`: the caller's (memoized) analysis, so a piece that becomes a question is analyzed once."""
        analyze = analyze or self._analyzer.analyze
        items = self._items(text, analyze)
        if items is not None:
            return items
        raw = self._cut(text)
        if len(raw) < 2:
            return [text]
        groups: list[list[str]] = []
        pending: list[str] = []
        for piece in (_Piece(r, analyze(r)) for r in raw):
            if self._says_nothing(piece.analyzed):
                continue  # hello, thanks, "ขอสอบถามค่ะ": nothing to answer, nothing to add
            if self._asks(piece.analyzed):
                groups.append([*pending, piece.text])
                pending = []
            else:
                pending.append(piece.text)  # context: it belongs to the question that follows
        if pending and groups:
            groups[-1] += pending
        if len(groups) < 2:
            return [text]
        if len(groups) > self._max:
            groups = [*groups[: self._max - 1], [p for g in groups[self._max - 1 :] for p in g]]
        return [" ".join(g) for g in groups]

    def _items(self, text: str, analyze: Callable[[str], Analyzed]) -> list[str] | None:
        """The items of a list, when the message is one: the words before the first item join it unless they say
        nothing ("ขอสอบถาม 2 ข้อค่ะ")."""
        marks = list(_ITEM.finditer(text))
        if len(marks) < 2:
            return None
        head = text[: marks[0].start()].strip()
        items = [text[m.end() : n.start() if n is not None else len(text)].strip() for m, n in
                 zip(marks, [*marks[1:], None], strict=True)]  # fmt: skip
        items = [i for i in items if i and not self._says_nothing(analyze(i))]
        if len(items) < 2:
            return None
        if head and not self._says_nothing(analyze(head)) and not self._asks(analyze(head)):
            items[0] = f"{head} {items[0]}"
        if len(items) > self._max:
            items = [*items[: self._max - 1], " ".join(items[self._max - 1 :])]
        return items

    def _cut(self, text: str) -> list[str]:
        pieces: list[str] = []
        for line in text.splitlines():
            line = _NUMBERING.sub("", " ".join(line.split()))
            if not line:
                continue
            for clause in self._at_cues(line):
                clause = _NUMBERING.sub("", clause)
                for part in _BOUNDARIES.split(clause):
                    part = _LEADING_JOINERS.sub("", _NUMBERING.sub("", part.strip())) if part else ""
                    if part and pieces and _COMPLEMENT.match(part):
                        pieces[-1] += " " + part  # "ช่วยเช็คให้หน่อยค่ะ ว่าขอได้ไหม": one question
                    elif part:
                        pieces.append(part)
        return pieces

    def _at_cues(self, line: str) -> list[str]:
        """Cut before each "another question" cue and drop the cue ("อีกเรื่องนะคะ ใคร..." -> "ใคร...")."""
        if self._cue is None:
            return [line]
        out: list[str] = []
        last = 0
        for m in self._cue.finditer(line):
            out.append(line[last : m.start()])
            rest = _TRAILING_AFTER_CUE.match(line, m.end())
            last = rest.end() if rest else m.end()
        out.append(line[last:])
        return [o.strip() for o in out if o.strip()]
