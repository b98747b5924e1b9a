"""The one piece of scikit-learn's TfidfVectorizer the service needs at run time: a feature list turned into the
sparse, sublinear-tf, L2-normalized TF-IDF vector the exported linear models (the guideline advisor, the intent
router) take. Only weights ship; importing scikit-learn would cost a third of the start-up budget."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import numpy as np


def tfidf_vector(index: Mapping[str, int], idf: np.ndarray, feats: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(column indices, weights) of the features known to the vocabulary `index`."""
    known = [(index[f], c) for f, c in Counter(feats).items() if f in index]  # counted in C, looked up once each
    if not known:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    idx = np.fromiter((i for i, _ in known), dtype=np.int64, count=len(known))
    tf = np.fromiter((1.0 + math.log(c) for _, c in known), dtype=np.float64, count=len(known))
    w = tf * idf[idx]
    return idx, w / (np.linalg.norm(w) or 1.0)


def word_ngrams(words: list[str]) -> list[str]:
    """Word unigrams and bigrams, and character 2-4-grams of each word (typos, Thai compounds the tokenizer cuts
    differently): the features both linear models read from a text's words."""
    out = [f"w:{t}" for t in words]
    out += [f"b:{x}|{y}" for x, y in zip(words, words[1:], strict=False)]
    for t in words:
        padded = f" {t} "
        for n in (2, 3, 4):
            out += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return out
