"""Finds the knowledge entry a question asks about, by comparing it with every question variant.

Scoring, as measured in ../shared/notes/thai-matching.md: half rapidfuzz token_set_ratio on tokenized,
canonical text, half cosine of character 2-3-gram TF-IDF vectors, halved when the question and the variant
both carry numbers but share none (2565 vs 2566). WRatio and rapidfuzz's default processor break Thai and
are not used. The TF-IDF cosine over all variants is one sparse matrix product, so only the best few
candidates get the slower token_set score: this keeps a query in the low milliseconds at 20,000 variants.

The TF-IDF is the same as scikit-learn's TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3),
sublinear_tf=True), written here on scipy.sparse because importing scikit-learn alone took about a second,
half the start-up budget.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from scipy.sparse import csr_matrix

from bot.analysis import Analyzed

CANDIDATES = 40  # variants rescored with token_set after the TF-IDF pass
W_SET, W_F1, W_COS = 0.1, 0.45, 0.45  # tuned on the evaluation set, see docs/benchmarks.md
SINGLE_WORD_CAP = 44.0  # just under the assistant's answer threshold


@dataclass(frozen=True)
class Variant:
    entry_id: str
    text: str
    analyzed: Analyzed


@dataclass(frozen=True)
class Match:
    entry_id: str
    variant: str
    score: float  # 0-100


def char_ngrams(text: str) -> Counter[str]:
    """Character 2- and 3-grams of each word padded with spaces (scikit-learn's "char_wb")."""
    grams: Counter[str] = Counter()
    for word in text.split():
        padded = f" {word} "
        for n in (2, 3):
            grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


class CharTfidf:
    """Sublinear-tf, smooth-idf, L2-normalized TF-IDF over character n-grams."""

    def __init__(self, texts: Sequence[str]) -> None:
        counts = [char_ngrams(t) for t in texts]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        self.vocabulary = {g: i for i, g in enumerate(sorted(df))}
        n = len(texts)
        self.idf = np.array([math.log((1 + n) / (1 + df[g])) + 1 for g in sorted(df)], dtype=np.float32)
        rows, cols, vals = [], [], []
        for r, c in enumerate(counts):
            idx, w = self._weights(c)
            rows += [r] * len(idx)
            cols += idx
            vals += w
        self.matrix = csr_matrix((vals, (rows, cols)), shape=(n, len(self.vocabulary)), dtype=np.float32)

    def _weights(self, grams: Counter[str]) -> tuple[list[int], list[float]]:
        idx = [self.vocabulary[g] for g in grams if g in self.vocabulary]
        w = [(1 + math.log(grams[g])) * float(self.idf[self.vocabulary[g]]) for g in grams if g in self.vocabulary]
        norm = math.sqrt(sum(x * x for x in w)) or 1.0
        return idx, [x / norm for x in w]

    def cosine(self, text: str) -> np.ndarray:
        """Cosine of `text` with every indexed text."""
        idx, w = self._weights(char_ngrams(text))
        if not idx:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        # A dense query vector times the CSR matrix: faster than slicing the matrix's columns (measured).
        query = np.zeros(self.matrix.shape[1], dtype=np.float32)
        query[idx] = w
        return self.matrix @ query


NEAR_NUMBER = 0.05  # "2,400 กว่าล้าน" asks to confirm 2,409.3962: amounts this close name the same figure


def _numbers_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    if a & b:
        return True
    for x in a:
        for y in b:
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                continue
            if fx >= 100 and fy >= 100 and abs(fx - fy) <= NEAR_NUMBER * max(fx, fy):
                return True
    return False


class QuestionIndex:
    def __init__(self, variants: Sequence[Variant]) -> None:
        if not variants:
            raise ValueError("no question variants to index")
        self.variants = list(variants)
        self._texts = [v.analyzed.content_text for v in self.variants]
        self._tfidf = CharTfidf(self._texts)
        # Word IDF over the variants: the plan's own name is in many questions and says little.
        df: Counter[str] = Counter()
        for v in self.variants:
            df.update(set(v.analyzed.content))
        n = len(self.variants)
        self._idf = {t: math.log((1 + n) / (1 + c)) + 1 for t, c in df.items()}
        self._unknown_idf = math.log(1 + n) + 1
        self._sets = [set(v.analyzed.content) for v in self.variants]

    def _weight(self, token: str) -> float:
        return self._idf.get(token, self._unknown_idf)

    def _word_f1(self, query: set[str], variant: set[str]) -> float:
        """IDF-weighted F1 of shared words: token_set alone scores 100 whenever the variant's words are a
        subset of the question's ("แผนงานบูรณาการรัฐบาลดิจิทัล" inside every question naming the plan)."""
        shared = sum(self._weight(t) for t in query & variant)
        if not shared:
            return 0.0
        precision = shared / sum(self._weight(t) for t in variant)
        recall = shared / sum(self._weight(t) for t in query)
        return 2 * precision * recall / (precision + recall)

    def __len__(self) -> int:
        return len(self.variants)

    def search(self, query: Analyzed, limit: int = 5, exclude_entry: str | None = None) -> list[Match]:
        """Best match per entry, best first."""
        text = query.content_text
        if not text:
            return []
        cos = self._tfidf.cosine(text)
        query_words = set(query.content)
        k = min(CANDIDATES, len(cos))
        top = np.argpartition(-cos, k - 1)[:k] if k < len(cos) else np.arange(len(cos))
        best: dict[str, Match] = {}
        for i in top:
            v = self.variants[int(i)]
            if v.entry_id == exclude_entry:
                continue
            words = 100.0 * self._word_f1(query_words, self._sets[i])
            score = W_SET * fuzz.token_set_ratio(text, self._texts[i]) + W_F1 * words + W_COS * 100.0 * float(cos[i])
            if query.numbers and v.analyzed.numbers and not _numbers_agree(query.numbers, v.analyzed.numbers):
                score /= 2
            # One word ("คณะกรรมการ") is inside many questions and token_set scores every one of them 100:
            # it can suggest a longer question, not answer it.
            if len(query.content) == 1 and len(v.analyzed.content) > 2:
                score = min(score, SINGLE_WORD_CAP)
            prev = best.get(v.entry_id)
            if prev is None or score > prev.score:
                best[v.entry_id] = Match(v.entry_id, v.text, score)
        return sorted(best.values(), key=lambda m: m.score, reverse=True)[:limit]
