"""Finds the knowledge entry a question asks about, by comparing it with every question variant.

Scoring, as measured in ../shared/notes/thai-matching.md: 0.1 rapidfuzz token_set_ratio on tokenized,
canonical text, 0.45 IDF-weighted word F1 and 0.45 cosine of character 2-3-gram TF-IDF vectors, halved when
the question and the variant both carry numbers but none agree (2565 vs 2566). WRatio and rapidfuzz's default
processor break Thai and are not used. The TF-IDF cosine over all variants is one sparse matrix product, so
only the best few candidates get the slower word scores: a query stays in the low milliseconds at 20,000
variants.

The TF-IDF is the same as scikit-learn's TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3),
sublinear_tf=True), written here on numpy and scipy.sparse because importing scikit-learn alone took about a
second, half the start-up budget. Building it is vectorized (character n-grams as integer codes, counted with
numpy), and the index keeps no per-variant Python objects but the question's text, so that a knowledge base
of 50,000 variants builds in seconds and takes about a kilobyte a variant.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from scipy.sparse import csr_matrix

from bot.analysis import Analyzed

CANDIDATES = 40  # variants rescored with the word scores after the TF-IDF pass
W_SET, W_F1, W_COS = 0.1, 0.45, 0.45  # tuned on the evaluation set, see docs/benchmarks.md
SINGLE_WORD_CAP = 44.0  # just under the assistant's answer threshold
KEY_WORD_MARGIN = 12.0  # a runner-up this close that has the question's most telling word goes first
NEAR_NUMBER = 0.05  # "2,400 กว่าล้าน" asks to confirm 2,409.3962: amounts this close name the same figure
_BITS = 21  # a code point fits in 21 bits: an n-gram of up to 3 of them is one int64 code
_NONE = (1 << _BITS) - 1  # above every code point: the empty third place of a 2-gram


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


def ngram_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(document index, n-gram code) of every character 2- and 3-gram of every word padded with spaces
    (scikit-learn's "char_wb"), for all texts at once."""
    padded = ["".join(f" {w} " for w in t.split()) for t in texts]
    lengths = np.fromiter((len(p) for p in padded), dtype=np.int64, count=len(padded))
    joined = "".join(padded)
    if not joined:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    # Each padded word has exactly two spaces (its first and last character): counting spaces tells the word.
    word = (np.cumsum(cp == 32) - 1) // 2
    docs, codes = [], []
    for n in (2, 3):
        if len(cp) < n:
            continue
        ok = word[: len(cp) - n + 1] == word[n - 1 :]
        third = cp[2:] if n == 3 else np.full(len(cp) - 1, _NONE, dtype=np.int64)
        code = (cp[: len(cp) - n + 1] << (2 * _BITS)) | (cp[1 : len(cp) - n + 2] << _BITS) | third
        docs.append(doc[: len(cp) - n + 1][ok])
        codes.append(code[ok])
    return np.concatenate(docs), np.concatenate(codes)


_CHUNK = 4096  # texts whose n-grams are counted at once: bounds the build's peak memory


def _unique_pairs(doc: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (document, n-gram) once, sorted by document, with how often it occurs."""
    order = np.lexsort((code, doc))
    doc, code = doc[order], code[order]
    first = np.ones(len(doc), dtype=bool)
    first[1:] = (doc[1:] != doc[:-1]) | (code[1:] != code[:-1])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(doc)))
    return doc[starts], code[starts], counts


class CharTfidf:
    """Sublinear-tf, smooth-idf, L2-normalized TF-IDF over character n-grams."""

    def __init__(self, texts: Sequence[str]) -> None:
        n = len(texts)
        chunks = [(i, texts[i : i + _CHUNK]) for i in range(0, n, _CHUNK)]
        # Pass 1: the vocabulary (every distinct n-gram code, sorted). Pass 2: each text's n-grams as columns.
        vocabulary = np.zeros(0, dtype=np.int64)
        for _, chunk in chunks:
            vocabulary = np.union1d(vocabulary, ngram_codes(chunk)[1])
        docs, cols, counts = [], [], []
        for offset, chunk in chunks:
            doc, code, count = _unique_pairs(*ngram_codes(chunk))
            docs.append((doc + offset).astype(np.int32))
            cols.append(np.searchsorted(vocabulary, code).astype(np.int32))
            counts.append(count.astype(np.float32))
        doc = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int32)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int32)
        w = np.concatenate(counts) if counts else np.zeros(0, dtype=np.float32)
        del docs, cols, counts
        self.vocabulary = vocabulary
        self._column = dict(zip(vocabulary.tolist(), range(len(vocabulary)), strict=True))  # for queries
        df = np.bincount(col, minlength=len(vocabulary))
        self.idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        self._idf_list: list[float] = self.idf.tolist()
        w = (1 + np.log(w)) * self.idf[col]
        norms = np.sqrt(np.bincount(doc, weights=w.astype(np.float64) ** 2, minlength=n)).astype(np.float32)
        w /= np.where(norms > 0, norms, np.float32(1.0))[doc]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(doc, minlength=n), out=indptr[1:])
        # Pairs come sorted by text, then n-gram: they are the CSR arrays as they stand.
        self.matrix = csr_matrix((w, col, indptr), shape=(n, len(vocabulary)), dtype=np.float32)

    def cosine(self, text: str) -> np.ndarray:
        """Cosine of `text` with every indexed text."""
        counts: dict[int, int] = {}
        for word in text.split():
            cp = [32, *map(ord, word), 32]
            for j in range(len(cp) - 1):
                c2 = (cp[j] << (2 * _BITS)) | (cp[j + 1] << _BITS) | _NONE
                counts[c2] = counts.get(c2, 0) + 1
                if j + 2 < len(cp):
                    c3 = (cp[j] << (2 * _BITS)) | (cp[j + 1] << _BITS) | cp[j + 2]
                    counts[c3] = counts.get(c3, 0) + 1
        cols, weights = [], []
        for code, count in counts.items():
            col = self._column.get(code)
            if col is not None:
                cols.append(col)
                weights.append((1 + math.log(count)) * self._idf_list[col])
        if not cols:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        norm = math.sqrt(sum(w * w for w in weights)) or 1.0
        # A dense query vector times the CSR matrix: faster than slicing the matrix's columns (measured).
        query = np.zeros(self.matrix.shape[1], dtype=np.float32)
        query[cols] = [w / norm for w in weights]
        return self.matrix @ query


class QuestionIndex:
    def __init__(self, variants: Iterable[Variant]) -> None:
        # One pass, keeping only what scoring needs: the variants (and their analyses) may be a generator, so
        # a large knowledge base never holds every analysis at once.
        self.entry_ids: list[str] = []
        self.texts: list[str] = []
        words: dict[str, int] = {}
        row_words = array("i")  # compact while building: a Python list of ints costs 36 bytes an item
        row_start = array("q", [0])
        lengths = array("i")
        content_texts: list[str] = []
        pool: dict[frozenset[str], frozenset[str]] = {}
        self._numbers: dict[int, frozenset[str]] = {}  # numbers per variant, shared: most have none
        for i, v in enumerate(variants):
            self.entry_ids.append(v.entry_id)
            self.texts.append(v.text)
            row_words.extend(sorted({words.setdefault(t, len(words)) for t in v.analyzed.content}))
            row_start.append(len(row_words))
            lengths.append(len(v.analyzed.content))
            content_texts.append(v.analyzed.content_text)
            if v.analyzed.numbers:
                self._numbers[i] = pool.setdefault(v.analyzed.numbers, v.analyzed.numbers)
        if not self.texts:
            raise ValueError("no question variants to index")
        n = len(self.texts)
        self._words = list(words)
        self._word_id = words
        self._row_start = np.frombuffer(row_start, dtype=np.int64).copy()
        self._row_words = np.frombuffer(row_words, dtype=np.int32).copy() if row_words else np.zeros(0, np.int32)
        self._lengths = np.frombuffer(lengths, dtype=np.int32).copy()
        df = np.bincount(self._row_words, minlength=len(self._words))
        # Word IDF over the variants: the plan's own name is in many questions and says little.
        self._idf = np.log((1 + n) / (1 + df)) + 1
        self._idf_list: list[float] = self._idf.tolist()  # scalar reads per candidate: a list is faster
        self._unknown_idf = math.log(1 + n) + 1
        # Each variant's own word weight (precision's denominator), once.
        csum = np.concatenate([[0.0], np.cumsum(self._idf[self._row_words])])
        self._row_weight = (csum[self._row_start[1:]] - csum[self._row_start[:-1]]).tolist()
        self._tfidf = CharTfidf(content_texts)
        self._content_texts = content_texts  # for token_set_ratio on the few candidates

    def __len__(self) -> int:
        return len(self.texts)

    def search(self, query: Analyzed, limit: int = 5, exclude_entry: str | None = None) -> list[Match]:
        """Best match per entry, best first."""
        text = query.content_text
        if not text:
            return []
        idf, word_id = self._idf_list, self._word_id
        content = set(query.content)
        query_ids = {word_id[t] for t in content if t in word_id}
        # Recall's denominator: every word of the question, those no variant has at the rarest weight.
        query_weight = sum(idf[w] for w in query_ids) + self._unknown_idf * (len(content) - len(query_ids))
        cos = self._tfidf.cosine(text)
        k = min(CANDIDATES, len(cos))
        top = np.argpartition(-cos, k - 1)[:k] if k < len(cos) else np.arange(len(cos))
        candidates = top.tolist()
        starts = self._row_start[top].tolist()
        ends = self._row_start[top + 1].tolist()
        cosines = cos[top].tolist()
        lengths = self._lengths[top].tolist()
        row_words, row_weight, texts = self._row_words, self._row_weight, self._content_texts
        one_word = len(query.content) == 1
        # The question's most telling word (the rarest that the variants know; not a number, which the numbers
        # rule weighs): a close runner-up with it is what the question asks about, not a top match without it
        # ("แผนพัฒนารัฐบาลดิจิทัลมี focus areas อะไร" asks for the focus areas, not for the plan).
        words = [w for w in query_ids if not self._words[w].replace(".", "").replace(",", "").isdigit()]
        weights = sorted((idf[w] for w in words), reverse=True)
        # Only a word rarer than every other one is telling: with a tie there is no single key word.
        key = max(words, key=lambda w: idf[w]) if len(words) > 1 and weights[0] > weights[1] + 1e-9 else None
        has_key: dict[str, bool] = {}
        best: dict[str, Match] = {}
        for i, start, end, c, length in zip(candidates, starts, ends, cosines, lengths, strict=True):
            entry_id = self.entry_ids[i]
            if entry_id == exclude_entry:
                continue
            # IDF-weighted F1 of shared words: token_set alone scores 100 whenever the variant's words are a
            # subset of the question's ("แผนงานบูรณาการรัฐบาลดิจิทัล" inside every question naming the plan).
            row = row_words[start:end].tolist()
            shared = sum(idf[w] for w in row if w in query_ids)
            f1 = 0.0
            if shared:
                precision, recall = shared / row_weight[i], shared / query_weight
                f1 = 2 * precision * recall / (precision + recall)
            score = W_SET * fuzz.token_set_ratio(text, texts[i]) + W_F1 * 100.0 * f1 + W_COS * 100.0 * c
            numbers = self._numbers.get(i)
            if query.numbers and numbers and not _numbers_agree(query.numbers, numbers):
                score /= 2
            # One word ("คณะกรรมการ") is inside many questions and token_set scores every one of them 100:
            # it can suggest a longer question, not answer it.
            if one_word and length > 2:
                score = min(score, SINGLE_WORD_CAP)
            prev = best.get(entry_id)
            if prev is None or score > prev.score:
                best[entry_id] = Match(entry_id, self.texts[i], score)
            has_key[entry_id] = has_key.get(entry_id, False) or key in row
        ranked = sorted(best.values(), key=lambda m: m.score, reverse=True)
        if key is not None and len(ranked) > 1 and not has_key[ranked[0].entry_id]:
            for j, m in enumerate(ranked[1:], 1):
                if ranked[0].score - m.score > KEY_WORD_MARGIN:
                    break
                if has_key[m.entry_id]:  # first, with its own score: a close call stays a close call
                    ranked = [m, *ranked[:j], *ranked[j + 1 :]]
                    break
        return ranked[:limit]
