"""Thai text normalization and tokenization shared by the matcher, the year reader and the handlers.

Everything that compares user text with the knowledge base runs both sides through `normalize` and then
`ThaiTokenizer.tokenize`, so the two sides always agree on spelling and word boundaries.
"""

from __future__ import annotations

import os

# Importing pythainlp writes ~/pythainlp-data unless told not to (and crashes where HOME is read-only);
# offline mode makes a missing corpus fail fast instead of trying to download it.
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")

import functools
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import nlpo3
from pythainlp.corpus import thai_words
from pythainlp.util import normalize as _thai_normalize

__all__ = ["STOPWORDS", "ThaiTokenizer", "is_mostly_english", "normalize", "segment"]

# Thai letters, vowels and marks (U+0E01..U+0E4E); excludes the Thai digits and the ๏ ๚ ๛ signs.
_THAI = "\u0e01-\u0e4e"
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# A dot right after a Thai letter is an abbreviation dot (พ.ร.บ., ส.พ.ร.) or sentence punctuation; never a
# decimal point, which always follows a digit.
_RE_THAI_DOTS = re.compile(f"(?<=[{_THAI}])\\.+")
# Emphasis such as ไหมมมม / ครับบบ: a run of 3+ identical Thai characters that ends a Thai chunk and is not the
# chunk's start. Real words with such runs either continue after the run (คะแนนนิยม, แบบบาง, งงงวย) or are
# the run itself (สสส, ททท), so both are left alone.
_RE_EMPHASIS = re.compile(f"(?<=[{_THAI}])([{_THAI}])\\1{{2,}}(?![{_THAI}])")
# Longest text normalized: past this nothing is a question any more, and a bound keeps every step's cost
# bounded (a LINE message may hold 5,000 characters).
MAX_TEXT_CHARS = 2000
# Thai stacks at most a vowel and a tone mark on a letter (plus the rare ์ or ํ): longer runs of combining marks
# are noise or an attack, and pythainlp's normalize is quadratic in them (5,000 tone marks took 0.17 s).
_MAX_COMBINING_RUN = 3
# Applying the pipeline once can expose new work (e.g. stripping U+200D joins two tone marks), so normalize
# repeats it until nothing changes; real text settles in 1-2 rounds.
_MAX_ROUNDS = 6


# Text made only of Latin, Thai, general punctuation and full-width forms (nearly every message) can only carry
# the combining marks listed in _MARKS, so two regular expressions bound it; anything else takes the full pass.
_MARKS = "\u0300-\u036f\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
_RE_COMMON_SCRIPT = re.compile("[\x00-\u036f\u0e00-\u0e7f\u2000-\u206f\u20a0-\u20cf\uff00-\uffef]*")
_RE_REPEATED_MARK = re.compile(f"([{_MARKS}])\\1+")
_RE_MARK_STACK = re.compile(f"([{_MARKS}]{{{_MAX_COMBINING_RUN}}})[{_MARKS}]+")


def _bound(text: str) -> str:
    """Cap the length and collapse runs of combining marks, in linear time, before any other step (pythainlp's
    normalize is quadratic in repeated Thai marks, NFKC in long runs of marks of different classes)."""
    text = text[: MAX_TEXT_CHARS * 2]  # a rough cut first, so even the passes below are bounded
    if _RE_COMMON_SCRIPT.fullmatch(text):
        return _RE_MARK_STACK.sub(r"\1", _RE_REPEATED_MARK.sub(r"\1", text))[:MAX_TEXT_CHARS]
    out: list[str] = []
    run = 0
    previous = ""
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Mn":
            if ch == previous or run >= _MAX_COMBINING_RUN:
                continue  # a repeated mark (่่่) or one too many in the stack
            run += 1
        else:
            run = 0
        previous = ch
        out.append(ch)
        if len(out) >= MAX_TEXT_CHARS:
            break
    return "".join(out)


def _clean_chars(text: str) -> str:
    """Drop invisible format characters (ZWSP, ZWJ, BOM, soft hyphen, ...); turn controls into spaces."""
    if text.isprintable():  # no control, format or surrogate character (nearly all text): nothing to do
        return text
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        # Lone surrogates cannot be encoded anywhere downstream: treat them like control characters.
        out.append(" " if cat in ("Cc", "Cs") else ch)
    return "".join(out)


def _normalize_once(text: str) -> str:
    text = _clean_chars(text)
    text = unicodedata.normalize("NFKC", text)
    # After NFKC: NFKC splits สระอำ into nikhahit + sara aa, pythainlp's normalize joins it back.
    text = _thai_normalize(text)
    text = _clean_chars(text)  # NFKC/pythainlp can leave new controls or format chars behind
    text = text.translate(_THAI_DIGITS).casefold()
    text = _RE_THAI_DOTS.sub("", text)
    text = _RE_EMPHASIS.sub(r"\1", text)
    return " ".join(text.split())


def normalize(text: str) -> str:
    """Canonical form of user or knowledge-base text; idempotent and never raises on a str."""
    if not isinstance(text, str):  # defensive: handlers may hand over None from an empty message
        text = "" if text is None else str(text)
    if len(text) > MAX_TEXT_CHARS:  # long texts are cut first, and never kept in the cache
        return _normalize_uncached(text)
    return _normalize_cached(text)


def _normalize_uncached(text: str) -> str:
    text = _bound(text)
    for _ in range(_MAX_ROUNDS):
        out = _normalize_once(text)
        if out == text:
            break
        text = out
    return text


# A question is normalized more than once on its way (analysis, then the question log), and common questions
# repeat: a small cache of the pure function (1,024 texts of at most MAX_TEXT_CHARS: a few MB at worst).
_normalize_cached = functools.lru_cache(maxsize=1024)(_normalize_uncached)


def _is_token_char(ch: str) -> bool:
    """Characters worth keeping at the edge of a token: anything but punctuation, symbols and separators."""
    return unicodedata.category(ch)[0] not in "PSZC"


class ThaiTokenizer:
    """newmm (nlpo3) with a dictionary extended by the knowledge base's own vocabulary.

    Numbers stay whole ("1.3", "2,409.3962"); newmm splits letters from digits, so "fy2566" gives
    ["fy", "2566"] and "ปี66" gives ["ปี", "66"]. Punctuation and emoji tokens are dropped and punctuation
    at a token's edges is trimmed ("(test)" -> "test").
    """

    def __init__(self, extra_words: Iterable[str] = (), cache_size: int = 4096) -> None:
        base = _base_dictionary()
        extra = {n for w in extra_words if (n := normalize(w)) and " " not in n}
        self.words: frozenset[str] = base.words | extra
        # Knowledge-base words the base dictionary lacks (แพลตฟอร์มกลาง) are joined back from the pieces newmm
        # cuts them into. The base dictionary itself never changes: nlpo3 cannot unload a dictionary, so a
        # per-knowledge one would cost ~60 MB more at every reload that changed the vocabulary.
        self._joins = frozenset(extra - base.words)
        self._max_pieces = max((len(w) for w in self._joins), default=1)
        # Every beginning of a joinable word: a run of pieces that is not one can stop growing at once.
        self._prefixes = frozenset(w[:k] for w in self._joins for k in range(1, len(w) + 1))
        # Same texts repeat (knowledge base entries, common questions): a bounded cache per instance.
        self._cached = functools.lru_cache(maxsize=cache_size)(self._tokenize_uncached)

    def _tokenize_uncached(self, text: str) -> tuple[str, ...]:
        return self._tokens(nlpo3.segment(text, _base_dictionary().name))

    def _tokens(self, pieces: list[str]) -> tuple[str, ...]:
        tokens: list[str] = []
        for raw in self._join(pieces):
            start, end = 0, len(raw)
            while start < end and not _is_token_char(raw[start]):
                start += 1
            while end > start and not _is_token_char(raw[end - 1]):
                end -= 1
            token = raw[start:end]
            if any(ch.isalnum() for ch in token):  # drops whitespace, punctuation, emoji, lone marks
                tokens.append(token)
        return tuple(tokens)

    def _join(self, pieces: list[str]) -> list[str]:
        """Longest run of adjacent pieces that spells a knowledge-base word becomes that word."""
        if not self._joins:
            return pieces
        out: list[str] = []
        i = 0
        while i < len(pieces):
            text, best = "", 0
            for j in range(i, len(pieces)):
                text += pieces[j]
                if len(text) > self._max_pieces or text not in self._prefixes:
                    break
                if j > i and text in self._joins:
                    best = j + 1 - i
            if best:
                out.append("".join(pieces[i : i + best]))
                i += best
            else:
                out.append(pieces[i])
                i += 1
        return out

    def tokenize(self, text: str) -> list[str]:
        """Words of already-normalized text (see `normalize`)."""
        if not text:
            return []
        return list(self._cached(text))

    def warm(self) -> None:
        """Load the dictionary and run newmm once, so the first user does not pay for it."""
        self._tokenize_uncached("โครงการอบรมข้าราชการ ปีงบประมาณ 2566 ยื่นคำขอได้ไหม fy2566")


@dataclass(frozen=True)
class _BaseDictionary:
    name: str
    words: frozenset[str]


@functools.cache
def _base_dictionary() -> _BaseDictionary:
    """pythainlp's word list, adjusted for our text, loaded once into nlpo3 (Rust newmm: the same tokens as
    pythainlp's newmm, several times faster; loading takes ~0.07 s where pythainlp's Python trie took ~0.4 s)."""
    words = set(thai_words())
    # Normalized text has no abbreviation dots, so dictionary entries like "ร.ฟ.ล." must lose them too.
    words |= {w.replace(".", "") for w in words if "." in w}
    # Drop การX / ความX when X is a word: otherwise newmm prefers การอบรม and splits โครงการอบรม into
    # โครง + การอบรม. Without them it finds โครงการ + อบรม, and การ/ความ stand as words of their own.
    words -= {w for w in words if (w[:3] == "การ" and w[3:] in words) or (w[:4] == "ความ" and w[4:] in words)}
    words -= _NOT_WORDS
    words.discard("")
    name = "budgetbot-base"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "words.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(sorted(words)))
        message, ok = nlpo3.load_dict(path, name)
    if not ok:
        raise RuntimeError(f"nlpo3 could not load the dictionary: {message}")
    return _BaseDictionary(name, frozenset(words))


# Dictionary entries that break common phrases: with "นคะ" a word, "ไหนคะ" splits as ไห + นคะ.
_NOT_WORDS = frozenset({"นคะ"})


def segment(text: str) -> list[str]:
    """Raw newmm segments, spaces kept, so that they join back to the text: for cutting long text or labels
    at word boundaries (the channel renderers)."""
    return list(nlpo3.segment(text, _base_dictionary().name)) if text else []


def _is_latin_letter(ch: str) -> bool:
    o = ord(ch)
    return ch.isalpha() and (o < 0x250 or 0x1E00 <= o <= 0x1EFF)


def is_mostly_english(text: str) -> bool:
    """True when more than half of the letters are Latin; digits, emoji and punctuation do not count."""
    latin = other = 0
    for ch in text:
        if _is_latin_letter(ch):
            latin += 1
        elif ch.isalpha():  # Thai consonants and spacing vowels count; combining marks are not alpha
            other += 1
    return latin > other


# Filler that carries no topic: politeness particles, question words and function words. No domain words.
STOPWORDS: frozenset[str] = frozenset(
    {
        # Thai particles and question words
        "ครับ", "ค่ะ", "คะ", "ค่า", "นะ", "จ้า", "หน่อย", "ไหม", "มั้ย", "มั๊ย", "หรือ", "หรือไม่",
        "ไหมครับ", "อะไร", "อย่างไร", "ยังไง", "ได้", "ไหน", "บ้าง", "คือ", "เป็น", "ที่", "ของ", "และ", "กับ",
        # politeness and preambles staff put around a question ("รบกวนสอบถามค่ะ ... นะคะ")
        "นะคะ", "นะครับ", "ครับผม", "คับ", "ค้าบ", "จ้ะ", "จ๊ะ", "ฮะ", "เจ้าค่ะ", "รบกวน", "สอบถาม", "เรียน",
        "ขอบคุณ", "ขอบคุณครับ", "ขอบคุณค่ะ", "กระผม", "ดิฉัน",
        # demonstratives and chat fillers: "ในเรื่องนี้" says nothing about which entry is asked
        "นี้", "นี่", "นั้น", "อ่ะ", "เหรอ", "หรอ",
        # English function words
        "the", "a", "an", "is", "are", "what", "how", "of", "to", "for", "in", "do", "does", "can", "please",
    }
)  # fmt: skip
