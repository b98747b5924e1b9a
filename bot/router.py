"""The intent router: which kind of question a message asks, learned from messages written by many people.

A multinomial logistic regression (trained with scikit-learn by `scripts/train-router` on the writers' labelled
messages in tests/eval/writers/, the knowledge's own question variants and the development set; only its
weights ship, in bot/router_model.json) over three kinds of feature:
- the words of the message (canonical tokens, function words kept: "ทำไม", "ล่ะ", "ไหม" carry the intent), their
  bigrams, and character 2-4-grams (typos, words the tokenizer cuts differently);
- evidence the other stages found: the kinds of time reference (bot.time_model), a guideline number, a named
  kind of body, how well the knowledge index matched and what kind of entry it found, the guideline advisor's
  aspects, and which of the knowledge's cue lists a phrase of the message is in. A cue list is a feature with a
  learned weight here, never a decision;
- the conversation so far: the topic of the last answer (its frame), whether it showed numbered options or
  offered a subscription, crossed with the message's length ("2" after a list picks an option; alone it asks
  about nothing).

The classes are the kinds of question (INTENTS) and the follow-up acts (ACTS), which only mean something
against a frame.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.analysis import Analyzed
from bot.linear import tfidf_vector, word_ngrams

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).with_name("router_model.json")
FEATURES_VERSION = 1

INTENTS = (
    "status",  # is fiscal year N accepting requests, when do they open or close, which years are open
    "calendar",  # which fiscal year a date or today is in, the months of a fiscal year
    "guideline_info",  # what the guidelines are, what guideline N covers
    "guideline_fit",  # which guideline a described project fits
    "eligibility",  # who may request, may a kind of body request, what a project needs
    "fact",  # any other fact of the sources
    "subscribe",
    "unsubscribe",
    "smalltalk",
    "help",
    "out_of_scope",
)
ACTS = ("why", "source", "pick", "language", "correction", "what_about", "yes", "no")
LABELS = INTENTS + tuple(f"act.{a}" for a in ACTS)
SHORT_TOKENS = 4  # a message this short leans on the conversation for its meaning


@dataclass(frozen=True)
class Evidence:
    """What the other stages found in a message, as the router sees it."""

    time_kinds: frozenset[str] = frozenset()  # TimeRef.kind of each reference
    guideline_number: bool = False
    several_guidelines: bool = False
    body: bool = False  # a particular kind of body is named
    only_number: bool = False  # the message is a number or an ordinal and nothing else
    match_score: float = 0.0  # the knowledge index's best score (0-100)
    match_kind: str = ""  # "eligibility", "guideline", "year", "faq": the best entry's kind
    aspects: int = 0  # guideline aspects the advisor found
    outside: bool = False  # a kind of project no guideline covers
    cues: frozenset[str] = frozenset()  # names of the cue lists with a phrase in the message
    in_context: bool = False  # the knowledge matched only with the last question's words added


@dataclass(frozen=True)
class Context:
    """The conversation as the router sees it: the last answer's topic and what it showed."""

    topic: str | None = None
    options: bool = False
    offer: bool = False


@dataclass(frozen=True)
class Intent:
    label: str  # one of LABELS
    confidence: float  # the model's probability of it
    runner_up: str
    scores: dict[str, float]

    @property
    def act(self) -> str | None:
        return self.label[4:] if self.label.startswith("act.") else None

    def p(self, label: str) -> float:
        return self.scores.get(label, 0.0)

    def best_kind(self) -> Intent:
        """The most likely kind of question, for a follow-up act that has nothing to act on."""
        kinds = [(lb, p) for lb, p in self.scores.items() if not lb.startswith("act.")]
        (label, p), second = kinds[0], kinds[1][0] if len(kinds) > 1 else kinds[0][0]
        return Intent(label, p, second, self.scores)


@functools.lru_cache(maxsize=64)
def text_features(a: Analyzed) -> tuple[str, ...]:
    """The message's own words: canonical words, their bigrams and character 2-4-grams (read once per message,
    by the router and the entry model)."""
    return tuple(word_ngrams([t for t in a.canonical if t.strip() and not t.isspace()]))


def features(a: Analyzed, ev: Evidence, ctx: Context) -> list[str]:
    out = list(text_features(a))
    n = len(a.content)
    size = "0" if n == 0 else "1" if n == 1 else "2-3" if n <= 3 else "4-8" if n <= 8 else "9+"
    out.append(f"len:{size}")
    if "?" in a.raw or "？" in a.raw:
        out.append("q:mark")
    out += [f"t:{k}" for k in sorted(ev.time_kinds)]
    if ev.time_kinds:
        out.append("t:any")
    for flag, name in (
        (ev.guideline_number, "g:number"),
        (ev.several_guidelines, "g:several"),
        (ev.body, "body"),
        (ev.only_number, "only:number"),
        (ev.outside, "advisor:outside"),
        (ev.in_context, "m:context"),
    ):
        if flag:
            out.append(name)
    band = (
        "high" if ev.match_score >= 65 else "mid" if ev.match_score >= 45 else "low" if ev.match_score >= 35 else "none"
    )
    out.append(f"m:{band}")
    if band != "none" and ev.match_kind:
        out.append(f"m:{band}:{ev.match_kind}")
    if ev.aspects:
        out.append(f"advisor:aspects:{min(ev.aspects, 3)}")
    out += [f"cue:{c}" for c in sorted(ev.cues)]
    short = n <= SHORT_TOKENS
    topic = ctx.topic or "none"
    out.append(f"ctx:{topic}")
    out.append(f"ctx:{topic}:{'short' if short else 'long'}")
    if ctx.options:
        out.append("ctx:options")
        if ev.only_number:
            out.append("ctx:options&number")
    if ctx.offer:
        out.append("ctx:offer")
        if short:
            out.append("ctx:offer&short")
    if ctx.topic is not None and short:
        out += [f"ctx:short&t:{k}" for k in sorted(ev.time_kinds)]
        if ev.guideline_number:
            out.append("ctx:short&g:number")
        if ev.body:
            out.append("ctx:short&body")
    return out


class IntentModel:
    """TF-IDF weights and one row of coefficients per label, as exported by bot.router_train."""

    def __init__(self, labels: list[str], vocabulary: list[str], idf: list[float], coef: list[list[float]],
                 intercept: list[float], entries: IntentModel | None = None) -> None:  # fmt: skip
        self.labels = tuple(labels)
        # Which knowledge entry answers a message, learned from the same writers (and the entries' own
        # variants): a second opinion beside the matcher's.
        self.entries = entries
        self.index = {f: i for i, f in enumerate(vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> IntentModel:
        if data.get("features_version") != FEATURES_VERSION:
            raise ValueError(f"router features version {data.get('features_version')} != {FEATURES_VERSION}")
        entries = data.get("entries")
        inner = (
            cls(**{k: entries[k] for k in ("labels", "vocabulary", "idf", "coef", "intercept")})
            if isinstance(entries, dict)
            else None
        )  # type: ignore[arg-type]
        return cls(data["labels"], data["vocabulary"], data["idf"], data["coef"], data["intercept"], inner)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> IntentModel:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def probabilities(self, feats: list[str]) -> np.ndarray:
        idx, w = tfidf_vector(self.index, self.idf, feats)
        z = self.intercept + (self.coef[:, idx] @ w if len(idx) else 0.0)
        z = np.exp(z - z.max())
        return np.asarray(z / z.sum())


class IntentRouter:
    def __init__(self, model: IntentModel) -> None:
        self.model = model
        self._not_acts = np.array([0.0 if lb.startswith("act.") else 1.0 for lb in model.labels])

    def classify(self, a: Analyzed, ev: Evidence, ctx: Context) -> Intent:
        probs = self.model.probabilities(features(a, ev, ctx))
        if ctx.topic is None:
            # A follow-up act means nothing without an answer to follow: the best kind of question wins.
            probs = probs * self._not_acts
            probs = probs / (probs.sum() or 1.0)
        order = np.argsort(-probs)
        scores = {self.model.labels[i]: round(float(probs[i]), 4) for i in order}
        best, second = int(order[0]), int(order[1])
        return Intent(self.model.labels[best], float(probs[best]), self.model.labels[second], scores)

    def entry(self, a: Analyzed) -> tuple[str, float] | None:
        """The knowledge entry the entry model thinks answers the message, with its probability."""
        if self.model.entries is None or not a.content:
            return None
        probs = self.model.entries.probabilities(list(text_features(a)))
        i = int(probs.argmax())
        return self.model.entries.labels[i], float(probs[i])
