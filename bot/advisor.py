"""The guideline advisor: which guidelines a described project fits, and the aspects that say why.

Two kinds of evidence, combined:
- aspects (knowledge/guidelines.yaml): what the project delivers and for whom, each found when every one of
  its word groups is in the description ("training" and "government staff"; "citizens" and "apply"). They are
  the reasons shown to the user, and `outside_guidelines` names kinds of project no guideline covers.
- a linear classifier (one logistic regression per guideline over word and character n-grams) trained with
  scikit-learn on the labelled descriptions in tests/eval/projects.yaml, minus the held-out third, by
  `scripts/train-advisor`, which writes bot/advisor_model.json. Only the weights ship: importing scikit-learn
  costs about 0.7 s, a third of the start-up budget, and a dot product needs none of it.

Each guideline's score mixes the classifier's probability with its aspects; the weights and the threshold
were chosen by cross-validation on the training part and are stored with the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.analysis import Analyzed, TextAnalyzer
from bot.cues import PhraseSet
from bot.knowledge.schema import Aspect, Guideline
from bot.linear import tfidf_vector, word_ngrams

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).with_name("advisor_model.json")
FEATURES_VERSION = 1
MAX_FITS = 2  # a project with a part under each of two guidelines names both; three would say nothing


def held_out(text: str) -> bool:
    """The third of the labelled descriptions that is never trained on: decided by the text alone, so adding
    descriptions never moves an old one between the parts."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 3 == 0


def features(a: Analyzed) -> list[str]:
    """Word unigrams and bigrams of the canonical words, and character 2-4-grams of each word (typos, Thai
    compounds the tokenizer cuts differently)."""
    return word_ngrams(list(a.content))


@dataclass(frozen=True)
class Params:
    aspect_weight: float = 0.5  # share of a guideline's score that comes from its aspects
    threshold: float = 0.45  # a guideline fits at or above this score
    outside_penalty: float = 0.5  # a no-fit aspect with none of the guideline's own: the score shrinks by this
    aspects_for_full: int = 2  # this many aspects count as full aspect evidence
    second_threshold: float = 0.45  # a second guideline is named at or above this score ...
    second_needs_aspect: bool = False  # ... and, if set, only with an aspect of its own (a part under it)


class LinearModel:
    """Sublinear-tf, smooth-idf, L2-normalized TF-IDF (scikit-learn's TfidfVectorizer) and one logistic
    regression per guideline, as exported by bot.advisor_train."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        idf: Sequence[float],
        coef: Sequence[Sequence[float]],
        intercept: Sequence[float],
        labels: Sequence[int],
        params: Params,
    ) -> None:
        self.index = {f: i for i, f in enumerate(vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.labels = tuple(labels)
        self.params = params

    @classmethod
    def from_json(cls, data: dict) -> LinearModel:
        if data.get("features_version") != FEATURES_VERSION:
            raise ValueError(f"model features version {data.get('features_version')} != {FEATURES_VERSION}")
        return cls(
            data["vocabulary"], data["idf"], data["coef"], data["intercept"], data["labels"], Params(**data["params"])
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> LinearModel | None:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Without the model the aspects still decide: worse, but never a crash.
            log.warning("guideline model not loaded (%s): aspects only", exc)
            return None

    def vector(self, feats: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return tfidf_vector(self.index, self.idf, feats)

    def probabilities(self, feats: list[str]) -> dict[int, float]:
        idx, w = self.vector(feats)
        z = self.intercept + (self.coef[:, idx] @ w if len(idx) else 0.0)
        return {n: float(1.0 / (1.0 + math.exp(-v))) for n, v in zip(self.labels, np.atleast_1d(z), strict=True)}


class AspectFinder:
    """Aspects compiled once; `found` lists those a description has."""

    def __init__(self, analyzer: TextAnalyzer, aspects: Sequence[Aspect]) -> None:
        self.aspects = list(aspects)
        self._groups = [[PhraseSet(analyzer, group) for group in a.all_of] for a in self.aspects]

    def found(self, a: Analyzed) -> list[Aspect]:
        return [asp for asp, groups in zip(self.aspects, self._groups, strict=True) if all(g.any(a) for g in groups)]


@dataclass(frozen=True)
class GuidelineFit:
    number: int
    score: float  # 0-1: the classifier's probability mixed with the aspects found
    probability: float  # the classifier's alone
    aspects: tuple[Aspect, ...]  # what the description has that this guideline is about


@dataclass(frozen=True)
class Advice:
    fits: list[GuidelineFit]  # the guidelines that fit, best first; empty when none does
    scored: list[GuidelineFit]  # every guideline, best first
    outside: list[Aspect]  # kinds of project no guideline covers that the description has

    @property
    def evidence(self) -> float:
        """How much the text reads as a project description at all (0-1)."""
        best = max((f.score for f in self.scored), default=0.0)
        return max(best, 0.6 if self.outside else 0.0)

    @property
    def any_aspect(self) -> bool:
        return bool(self.outside) or any(f.aspects for f in self.scored)


class GuidelineAdvisor:
    def __init__(
        self,
        guidelines: dict[int, Guideline],
        outside: Sequence[Aspect],
        analyzer: TextAnalyzer,
        model: LinearModel | None,
    ) -> None:
        self.numbers = list(guidelines)
        self.model = model if model is not None and set(model.labels) == set(guidelines) else None
        self.params = self.model.params if self.model is not None else Params(aspect_weight=1.0, threshold=0.5)
        self._aspects = {n: AspectFinder(analyzer, g.aspects) for n, g in guidelines.items()}
        self._outside = AspectFinder(analyzer, outside)

    def advise(self, a: Analyzed) -> Advice:
        p = self.params
        probs = self.model.probabilities(features(a)) if self.model is not None else {}
        outside = self._outside.found(a)
        scored = []
        for n in self.numbers:
            aspects = tuple(self._aspects[n].found(a))
            prob = probs.get(n, 0.0)
            share = min(1.0, len(aspects) / p.aspects_for_full)
            score = (1 - p.aspect_weight) * prob + p.aspect_weight * share
            if outside and not aspects:
                score *= 1 - p.outside_penalty
            scored.append(GuidelineFit(n, round(score, 3), round(prob, 3), aspects))
        scored.sort(key=lambda f: f.score, reverse=True)
        fits = [f for f in scored[:1] if f.score >= p.threshold]
        fits += [
            f
            for f in scored[1:MAX_FITS]
            if fits and f.score >= max(p.threshold, p.second_threshold) and (f.aspects or not p.second_needs_aspect)
        ]
        return Advice(fits, scored, outside)
