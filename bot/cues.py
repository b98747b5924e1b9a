"""Cue phrases compiled once, and found in a question without rebuilding anything.

Routing asks "which of these phrases does the question contain" for a dozen lists of cue words, about 400
phrases in all. Building a regular expression per Latin phrase on every question cost more CPU than matching
the question against the whole knowledge base, so each phrase is prepared when the assistant is built:
Latin phrases as whole-word patterns, Thai phrases as plain substrings of the space-free text (Thai has no
word boundaries to rely on). A list is only searched for phrases of a script the question contains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.analysis import Analyzed, TextAnalyzer, is_latin


@dataclass(frozen=True)
class Phrase:
    text: str  # normalized
    compact: str  # normalized, space-free
    canonical: str  # after synonym mapping, space-free: "ข้าราชการ" also finds the phrase "บุคลากรภาครัฐ"
    pattern: re.Pattern[str] | None  # Latin phrases: the phrase as whole words


def latin_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])")


class PhraseSet:
    """A list of cue phrases; `found` returns the ones a question contains, in the list's order."""

    def __init__(self, analyzer: TextAnalyzer, phrases: Iterable[str]) -> None:
        thai: list[Phrase] = []
        latin: list[Phrase] = []
        seen: set[str] = set()
        for raw in phrases:
            norm = analyzer.analyze(raw).normalized
            if not norm or norm in seen:
                continue
            seen.add(norm)
            canonical = analyzer.canonical_phrase(raw)
            if is_latin(norm):
                latin.append(Phrase(norm, norm.replace(" ", ""), canonical, latin_pattern(norm)))
            else:
                compact = norm.replace(" ", "")
                thai.append(Phrase(norm, compact, canonical, None))
        self._thai = tuple(thai)
        self._latin = tuple(latin)
        # One alternation each over the space-free and the canonical text says at C speed whether any Thai
        # phrase is there at all; most lists have none in most questions.
        alt = lambda xs: re.compile("|".join(re.escape(x) for x in sorted(set(xs), key=len, reverse=True)))  # noqa: E731
        self._thai_compact = alt(p.compact for p in thai) if thai else None
        self._thai_canonical = alt(p.canonical for p in thai if p.canonical) if any(p.canonical for p in thai) else None
        self._latin_words = frozenset(p.text for p in latin if " " not in p.text)
        # One alternation finds out cheaply whether any Latin phrase can be there at all.
        self._any_latin = re.compile("|".join(re.escape(p.text) for p in latin)) if latin else None

    def __len__(self) -> int:
        return len(self._thai) + len(self._latin)

    def _thai_possible(self, a: Analyzed) -> bool:
        return bool(
            (self._thai_compact is not None and self._thai_compact.search(a.compact))
            or (self._thai_canonical is not None and self._thai_canonical.search(a.canonical_compact))
        )

    def found(self, a: Analyzed) -> list[str]:
        out: list[str] = []
        compact, canonical = a.compact, a.canonical_compact
        if self._thai_possible(a):
            for p in self._thai:
                if p.compact in compact or (p.canonical and p.canonical in canonical):
                    out.append(p.text)
        if self._any_latin is not None and self._any_latin.search(a.normalized):
            out += [p.text for p in self._latin if p.pattern is not None and p.pattern.search(a.normalized)]
        if self._latin_words and self._latin_words & set(a.canonical):
            # A Latin canonical word the question only has as a synonym ("smes" for ธุรกิจขนาดกลางและขนาดย่อม).
            out += [p.text for p in self._latin if p.text in a.canonical and p.text not in out]
        return out

    def any(self, a: Analyzed) -> bool:
        if self._thai_possible(a):
            return True
        if self._any_latin is not None and self._any_latin.search(a.normalized):
            if any(p.pattern is not None and p.pattern.search(a.normalized) for p in self._latin):
                return True
        return bool(self._latin_words and self._latin_words & set(a.canonical))

    def _latin_any(self, a: Analyzed) -> bool:
        """`any`, for the Latin phrases alone."""
        if self._any_latin is not None and self._any_latin.search(a.normalized):
            if any(p.pattern is not None and p.pattern.search(a.normalized) for p in self._latin):
                return True
        return bool(self._latin_words and self._latin_words & set(a.canonical))

    def spans(self, a: Analyzed) -> list[tuple[int, int, str]]:
        """(start, end, phrase) of each occurrence in the normalized text, for cutting a message into parts."""
        text = a.normalized
        out: list[tuple[int, int, str]] = []
        for p in self._thai:
            start = text.find(p.text)
            while start >= 0:
                out.append((start, start + len(p.text), p.text))
                start = text.find(p.text, start + 1)
        for p in self._latin:
            if p.pattern is not None:
                out += [(m.start(), m.end(), p.text) for m in p.pattern.finditer(text)]
        return sorted(out)


class WordSet:
    """Short words (ไหม, ละ, what) that must be whole words: as substrings, ละ is inside และ and ยัง is inside
    เบี้ยยังชีพ. Thai ones are compared with the question's tokens, Latin ones as whole words; a phrase of
    several words ("หรือไม่", "what about") is looked for in the space-free text like a cue phrase."""

    def __init__(self, analyzer: TextAnalyzer, words: Iterable[str]) -> None:
        single: set[str] = set()
        multi: list[str] = []
        latin: list[str] = []
        for w in words:
            norm = analyzer.analyze(w).normalized if any(ch.isalnum() for ch in w) else w.strip()
            if not norm:
                continue
            if is_latin(norm) or not any(ch.isalnum() for ch in norm):
                latin.append(norm)
            elif len(analyzer.tokenizer.tokenize(norm)) == 1:
                single.add(norm)
            else:
                multi.append(norm.replace(" ", ""))
        self._single = frozenset(single)
        self._multi = tuple(multi)
        words_re = [re.escape(w) for w in latin if any(ch.isalnum() for ch in w)]
        self._latin = re.compile(rf"(?<![a-z0-9])(?:{'|'.join(words_re)})(?![a-z0-9])") if words_re else None
        self._symbols = tuple(w for w in latin if not any(ch.isalnum() for ch in w))

    def any(self, a: Analyzed, raw: str | None = None) -> bool:
        if any(t in self._single for t in a.tokens) or any(m in a.compact for m in self._multi):
            return True
        if self._latin is not None and self._latin.search(a.normalized):
            return True
        text = a.raw if raw is None else raw
        return any(s in text for s in self._symbols)


class CueIndex:
    """Which of many cue lists have a phrase in a question, in one pass over the text rather than one per list
    (the router reads two dozen lists on every message). Answers what `PhraseSet(list).any` answers per list:
    Thai phrases through one alternation each over the space-free and the canonical text, Latin phrases (few, and
    only in questions with Latin letters) list by list."""

    def __init__(self, analyzer: TextAnalyzer, lists: Mapping[str, Iterable[str]]) -> None:
        self._sets = {name: PhraseSet(analyzer, words) for name, words in lists.items()}
        owners: dict[tuple[str, str], set[str]] = {}  # (form, text) -> list names; form: compact or canonical
        for name, phrases in self._sets.items():
            for p in phrases._thai:
                owners.setdefault(("compact", p.compact), set()).add(name)
                if p.canonical:
                    owners.setdefault(("canonical", p.canonical), set()).add(name)
        self._latin = {name: s for name, s in self._sets.items() if s._latin}
        self._finders: list[tuple[str, re.Pattern[str], dict[str, frozenset[str]]]] = []
        for form in ("compact", "canonical"):
            texts = sorted((t for f, t in owners if f == form), key=len, reverse=True)
            if not texts:
                continue
            # At each position the longest phrase is captured; every shorter phrase starting there is one of its
            # prefixes, so a phrase stands for the lists of all its prefixes too.
            by_prefix = {
                t: frozenset(n for u in texts if t.startswith(u) for n in owners[(form, u)]) for t in texts
            }  # fmt: skip
            pattern = re.compile("(?=(" + "|".join(re.escape(t) for t in texts) + "))")
            self._finders.append((form, pattern, by_prefix))

    def names(self, a: Analyzed) -> frozenset[str]:
        found: set[str] = set()
        for form, pattern, by_prefix in self._finders:
            for m in pattern.finditer(a.compact if form == "compact" else a.canonical_compact):
                found |= by_prefix[m.group(1)]
        if _ASCII_LETTER.search(a.normalized) or any(t.isascii() for t in a.canonical):
            found |= {name for name, s in self._latin.items() if name not in found and s._latin_any(a)}
        return frozenset(found)

    def __getitem__(self, name: str) -> PhraseSet:
        return self._sets[name]


_ASCII_LETTER = re.compile("[a-z]")
