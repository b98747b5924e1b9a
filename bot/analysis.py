"""Turns a question (or a knowledge-base variant) into the forms the matcher and router compare.

Both sides go through the same steps: normalize, tokenize, map synonyms and spelling variants to one
canonical word, and drop filler words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from bot.knowledge.schema import SynonymGroup
from bot.thai import STOPWORDS, ThaiTokenizer, normalize
from bot.years import may_name_years, read_years

_LATIN = re.compile(r"[a-z]")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
MAX_QUESTION_CHARS = 500  # longer input is cut: nobody asks a 10,000-character question on purpose
CHUNKED_MAX_CHARS = 400  # analyze_many takes longer texts whole (normalize caps what it reads at once)


@dataclass(frozen=True)
class Analyzed:
    raw: str
    normalized: str  # see bot.thai.normalize
    tokens: tuple[str, ...]  # newmm tokens of `normalized`
    canonical: tuple[str, ...]  # tokens after synonym mapping (a synonym may become several words)
    content: tuple[str, ...]  # canonical tokens without filler words
    numbers: frozenset[str]
    years: frozenset[int] = frozenset()  # explicit fiscal years (B.E.) in the text; relative ones need a date

    @property
    def content_text(self) -> str:
        return " ".join(self.content)

    @property
    def compact(self) -> str:
        """Normalized text without spaces: Thai has no word spaces, so cue words are found in this."""
        return self.normalized.replace(" ", "")

    @property
    def canonical_compact(self) -> str:
        return "".join(self.canonical)


class TextAnalyzer:
    def __init__(self, synonyms: Iterable[SynonymGroup], vocabulary: Iterable[str]) -> None:
        groups = list(synonyms)
        words = set(vocabulary)
        for g in groups:
            words.add(g.canonical)
            words.update(g.variants)
        # Misspellings are fixed in the text itself, longest first (see SynonymGroup.spelling).
        fixes = {normalize(v): normalize(g.canonical) for g in groups if g.spelling for v in g.variants}
        self._spelling = sorted(((w, r) for w, r in fixes.items() if w and w != r), key=lambda p: -len(p[0]))
        words -= {v for g in groups if g.spelling for v in g.variants}
        self.tokenizer = ThaiTokenizer(extra_words=words)
        # How the dictionary's words with a space in them go on after the space ("ๆ" of "ต่าง ๆ").
        self._spaced_tails = tuple({w.split(" ")[1] for w in self.tokenizer.words if " " in w} - {""})
        # Variants map by token sequence so that "fiscal year" (two tokens) and "ปีงบ" (one) both work.
        self._synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        for g in groups:
            canonical = tuple(self.tokenizer.tokenize(normalize(g.canonical)))
            for v in g.variants:
                key = tuple(self.tokenizer.tokenize(normalize(v)))
                if key and key != canonical:
                    self._synonyms[key] = canonical
        self._max_len = max((len(k) for k in self._synonyms), default=1)
        # For each first word of a synonym, the lengths of the synonyms it starts, longest first: most words
        # start none, and need no lookup at all.
        starts: dict[str, set[int]] = {}
        for k in self._synonyms:
            starts.setdefault(k[0], set()).add(len(k))
        self._starts = {w: tuple(sorted(n, reverse=True)) for w, n in starts.items()}

    def warm(self) -> None:
        self.tokenizer.warm()

    def correct_spelling(self, normalized: str) -> str:
        for wrong, right in self._spelling:
            if wrong in normalized:
                normalized = normalized.replace(wrong, right)
        return normalized

    def canonical_tokens(self, tokens: tuple[str, ...]) -> tuple[str, ...]:
        # Repeat until stable: a spelling fix (ดิจิตอล -> ดิจิทัล) can complete a longer name that maps on.
        for _ in range(3):
            mapped = self._canonical_once(tokens)
            if mapped == tokens:
                break
            tokens = mapped
        return tokens

    def _canonical_once(self, tokens: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for n in self._starts.get(tokens[i], ()):
                repl = self._synonyms.get(tokens[i : i + n]) if i + n <= len(tokens) else None
                if repl is not None:
                    out.extend(repl)
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        return tuple(out)

    def analyze(self, text: str) -> Analyzed:
        normalized = self.correct_spelling(normalize(text)[:MAX_QUESTION_CHARS])
        return self._finish(text, normalized, tuple(self.tokenizer.tokenize(normalized)))

    def _finish(self, text: str, normalized: str, tokens: tuple[str, ...]) -> Analyzed:
        canonical = self.canonical_tokens(tokens)
        content = tuple(t for t in canonical if t not in STOPWORDS)
        numbers, years = _numbers(normalized, tokens)
        return Analyzed(text, normalized, tokens, canonical, content, numbers, years)

    def analyze_many(self, texts: Iterable[str]) -> Iterator[Analyzed]:
        """`analyze` for many texts (building the index), the same results faster: normalizing and tokenizing
        go word group by word group (the runs between spaces), each distinct group once. Both are local to such
        a group (nothing in them joins or reorders across a space, but for the words below), and a knowledge
        base's variants share most of their groups ("แผนงานบูรณาการรัฐบาลดิจิทัล", "ปีงบประมาณ", "ได้ไหม")."""
        norm: dict[str, str] = {}
        toks: dict[str, tuple[str, ...]] = {}
        for text in texts:
            if not isinstance(text, str) or len(text) > CHUNKED_MAX_CHARS or not text.isprintable():
                yield self.analyze(text)
                continue
            chunks = text.split()
            if any(_joins_across(a, b) for a, b in zip(chunks, chunks[1:], strict=False)):
                yield self.analyze(text)  # "ก ำ": normalizing joins these across the space
                continue
            parts = []
            for chunk in chunks:
                n = norm.get(chunk)
                if n is None:
                    n = norm[chunk] = normalize(chunk)
                if n:
                    parts.append(n)
            normalized = self.correct_spelling(" ".join(parts)[:MAX_QUESTION_CHARS])
            chunks = normalized.split(" ")
            # newmm cuts at spaces, except in the dictionary's few words that have one ("ต่าง ๆ", "บ่อย ๆ"):
            # where a word group could continue such a word, the text is tokenized whole.
            if any(c.startswith(self._spaced_tails) for c in chunks[1:]):
                yield self._finish(text, normalized, tuple(self.tokenizer.tokenize(normalized)))
                continue
            tokens: list[str] = []
            for chunk in chunks:
                t = toks.get(chunk)
                if t is None:
                    t = toks[chunk] = tuple(self.tokenizer.tokenize(chunk))
                tokens += t
            yield self._finish(text, normalized, tuple(tokens))

    def canonical_phrase(self, phrase: str) -> str:
        """A cue word or keyword in the same canonical, space-free form as Analyzed.canonical_compact."""
        return "".join(self.canonical_tokens(tuple(self.tokenizer.tokenize(normalize(phrase)))))


_NO_RELATIVE = date(2000, 1, 1)  # explicit years only: relative ones ("ปีนี้") are resolved by the router


def _numbers(normalized: str, tokens: tuple[str, ...]) -> tuple[frozenset[str], frozenset[int]]:
    """Numbers in the text other than years (1.3, 14, 2,409.3962), for the matcher's "numbers must agree"
    rule. Years are left to the router, which knows which fiscal year each entry is about: a figures
    question about another year is still a figures question, answered with "no information for that year"."""
    if not any(ch.isdigit() for ch in normalized):
        return frozenset(), frozenset()
    years = read_years(normalized, _NO_RELATIVE, normalized=True, relative=False) if may_name_years(normalized) else []
    year_text = " ".join(m.text for m in years)
    numbers = {t.replace(",", "") for t in tokens if _NUMBER.match(t) and t not in year_text}
    # "2,409 ล้าน" names the same figure as 2,409.3962: large amounts also count by their whole part.
    return frozenset(numbers | {n.split(".")[0] for n in numbers if len(n.split(".")[0]) >= 4}), frozenset(
        m.year for m in years
    )


def is_latin(phrase: str) -> bool:
    return bool(_LATIN.search(phrase))


def contains_phrase(a: Analyzed, phrase: str, canonical_phrase: str) -> bool:
    """Does the question contain this cue/keyword? Latin phrases match whole words; Thai ones as substrings
    of the space-free text (Thai has no word boundaries to rely on)."""
    if not phrase:
        return False
    if is_latin(phrase):
        return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", a.normalized) is not None
    return phrase.replace(" ", "") in a.compact or (bool(canonical_phrase) and canonical_phrase in a.canonical_compact)


_THAI_STARTS = frozenset(chr(c) for c in range(0x0E01, 0x0E2F)) | set("เแโใไๆฯ")  # consonants, preposed vowels
_PREPOSED = frozenset("เแโใไ")


def _joins_across(before: str, after: str) -> bool:
    """Could normalizing change text across the space between these word groups? When the second starts with
    a Thai vowel or mark that belongs to a consonant (a dangling ำ), or the first ends with a vowel written
    before its consonant."""
    first = after[0]
    return ("\u0e00" <= first <= "\u0e7f" and first not in _THAI_STARTS and not first.isdigit()) or (
        before[-1] in _PREPOSED
    )


def _has_latin_letter(token: str) -> bool:
    return any(ch.isascii() and ch.isalpha() for ch in token)


def _has_thai_letter(token: str) -> bool:
    return any("\u0e01" <= ch <= "\u0e4e" for ch in token)


def message_language(a: Analyzed) -> str:
    """ "en" when more of the message's words are English than Thai, else "th": "deadline ปี 67 วันไหน" is a
    Thai question with an English term. Counting words, not letters: one English term has as many letters as a
    whole Thai clause, whose vowel and tone marks do not even count as letters."""
    latin = sum(1 for t in a.tokens if _has_latin_letter(t))
    thai = sum(1 for t in a.tokens if _has_thai_letter(t))
    if latin == thai == 0:
        return "en" if _has_latin_letter(a.normalized) and not _has_thai_letter(a.normalized) else "th"
    return "en" if latin > thai else "th"
