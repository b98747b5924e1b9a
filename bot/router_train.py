"""Train the intent router and write bot/router_model.json (`scripts/train-router`); measure it on writers held
out of training.

Training data, each example with the writer it comes from:
- tests/eval/writers/*.yaml: messages and conversations written from the sources by independent writers, each
  with a style of their own (see tests/eval/writers/README.md). A conversation turn's context is the topic of the
  answer before it, whether that answer showed a list, and whether it offered a subscription.
- the knowledge's question variants (writer "knowledge"), labelled by their entry's kind;
- the development set tests/eval/questions.yaml (writer "dev").
The realistic and held-out sets (tests/eval/realistic.yaml, holdout.yaml) are never trained on.

`held_out_report` trains once per writer on everyone else and classifies that writer's messages: accuracy on
unseen writers, not on unseen lines of a seen writer. The shipped model is trained on all of them.
Needs scikit-learn (a test extra; the service never imports it). Deterministic: the same data give the same file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.advisor import LinearModel
from bot.analysis import TextAnalyzer
from bot.knowledge.loader import KnowledgeBase, load_knowledge
from bot.router import ACTS, FEATURES_VERSION, INTENTS, MODEL_FILE, Context, IntentModel, features
from bot.settings import DEFAULT_KNOWLEDGE_DIR, REPO_ROOT

WRITERS_DIR = REPO_ROOT / "tests" / "eval" / "writers"
DEV_FILE = REPO_ROOT / "tests" / "eval" / "questions.yaml"
C = 10.0  # inverse regularization, chosen on held-out writers (see held_out_report)
LIST_TOPICS = ("guideline_info",)  # an answer about the guidelines in general lists them


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    writer: str
    context: Context = Context()
    previous: str | None = None  # the question before, in a conversation


def act_of(turn: dict[str, Any]) -> str | None:
    act = turn.get("act")
    if act is True:  # YAML reads an unquoted yes / no as a boolean
        return "yes"
    if act is False:
        return "no"
    return str(act) if act else None


def label_of(item: dict[str, Any]) -> str | None:
    act = act_of(item)
    if act in ACTS:
        return f"act.{act}"
    intent = item.get("intent")
    return intent if intent in INTENTS else None


def turn_context(previous: dict[str, Any] | None) -> Context:
    """What the answer to the previous turn would have left: its topic, a list, an offer."""
    if previous is None:
        return Context()
    topic = previous.get("intent")
    if topic not in INTENTS:
        return Context()
    listed = topic in LIST_TOPICS and len(previous.get("guidelines") or []) != 1
    year = previous.get("fiscal_year")
    offer = topic == "status" and isinstance(year, int) and year >= 2571
    return Context(topic=topic, options=listed, offer=offer)


def writer_files(directory: Path = WRITERS_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def writer_examples(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    writer = str(data["writer"])
    out = [Example(m["text"], lb, writer) for m in data.get("messages") or [] if (lb := label_of(m))]
    for conv in data.get("conversations") or []:
        previous: dict[str, Any] | None = None
        for turn in conv["turns"]:
            lb = label_of(turn)
            if lb is not None:
                before = previous["text"] if previous is not None else None
                out.append(Example(turn["text"], lb, writer, turn_context(previous), before))
            previous = turn
    return out


def knowledge_examples(kb: KnowledgeBase) -> list[Example]:
    from bot.answers.guidelines import guideline_entries

    out = []
    for e in [*guideline_entries(kb), *kb.faq.values()]:
        label = (
            "eligibility"
            if e.kind == "eligibility"
            else "guideline_info"
            if e.guideline is not None or e.id.startswith("guidelines")
            else "fact"
        )
        out += [Example(q, label, "knowledge") for q in [*e.questions, *e.questions_en]]
    return out


_DEV_KINDS = {
    "fiscal_year_status": "status",
    "eligibility": "eligibility",
    "guideline_match": "guideline_fit",
    "guided_check": "guideline_fit",
    "greeting": "smalltalk",
    "help": "help",
}


def dev_examples(path: Path = DEV_FILE) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for case in data["cases"]:
        exp = case["expect"]
        if case.get("context") or exp.get("parts"):
            continue
        kind, entry = exp["kind"], exp.get("entry") or ""
        if kind in _DEV_KINDS:
            label = _DEV_KINDS[kind]
        elif kind == "faq":
            label = (
                "status"
                if entry == "fiscal-calendar-open"
                else "calendar"
                if entry.startswith("fiscal-calendar")
                else "guideline_info"
                if entry.startswith("guideline")
                else "fact"
            )
        elif kind == "fallback":
            label = "out_of_scope" if "oos" in case.get("tags", []) else "fact"
        elif kind == "subscription":
            text = case["q"].lower()
            stop = any(w in text for w in ("ยกเลิก", "เลิก", "หยุด", "ไม่ต้อง", "unsub", "stop"))
            label = "unsubscribe" if stop else "subscribe"
        else:
            continue
        out.append(Example(case["q"], label, "dev"))
    return out


def _plain(text: str) -> str:
    from bot.writer_eval import _plain as plain

    return plain(text)


def entry_examples(kb: KnowledgeBase) -> list[Example]:
    """Messages labelled with the knowledge entry that answers them: every question variant, and each writer's
    fact, guideline and eligibility messages whose must-say facts are in exactly one entry's answer."""
    from bot.answers.guidelines import guideline_entries

    entries = [*guideline_entries(kb), *kb.faq.values()]
    out = [Example(q, e.id, "knowledge") for e in entries for q in [*e.questions, *e.questions_en]]
    answers = {e.id: _plain(f"{e.answer} {e.answer_en}") for e in entries}
    for path in writer_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        items = list(data.get("messages") or []) + [
            t for c in data.get("conversations") or [] for i, t in enumerate(c["turns"]) if i == 0
        ]
        for m in items:
            says = [_plain(str(x)) for x in m.get("must_say") or []]
            if m.get("intent") not in ("fact", "guideline_info", "eligibility") or not says or m.get("missing"):
                continue
            if m.get("premise_false"):
                continue
            owners = [i for i, text in answers.items() if all(x in text for x in says)]
            if len(owners) == 1:
                out.append(Example(m["text"], owners[0], str(data["writer"])))
    return out


def all_examples(kb: KnowledgeBase) -> list[Example]:
    out: list[Example] = []
    for path in writer_files():
        out += writer_examples(path)
    return out + knowledge_examples(kb) + dev_examples()


class Featurizer:
    """Examples turned into the router's features with the shipped knowledge (slots included)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        from datetime import date

        from bot.assistant import Assistant

        self.assistant = Assistant.build(kb, router=_placeholder_model())
        self.today = date(2026, 11, 21)
        self._cache: dict[tuple[str, Context, str | None], list[str]] = {}

    @property
    def analyzer(self) -> TextAnalyzer:
        return self.assistant.analyzer

    def __call__(self, ex: Example) -> list[str]:
        key = (ex.text, ex.context, ex.previous)
        if key not in self._cache:
            a = self.analyzer.analyze(ex.text)
            slots = self.assistant.slots.read(a, self.today, ex.previous)
            self._cache[key] = features(a, slots.evidence, ex.context)
        return self._cache[key]


def _placeholder_model() -> IntentModel:
    """A model that knows no feature, so that an Assistant can be built to read slots before any training."""
    labels = list(INTENTS)
    return IntentModel(labels, [], [], [[] for _ in labels], [0.0] * len(labels))


def entry_features(featurize: Featurizer, ex: Example) -> list[str]:
    """What the entry model reads: the message's words alone (no slots, no conversation)."""
    return [f for f in featurize(ex) if f[:2] in ("w:", "b:", "c:")]  # = router.text_features


def fit(docs: list[list[str]], labels: list[str], c: float = C) -> dict[str, Any]:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer=lambda f: f, sublinear_tf=True, min_df=2, lowercase=False)
    x = vec.fit_transform(docs)
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=0)
    model.fit(x, labels)
    coef = np.asarray(model.coef_)
    # Features whose weights are all but zero for every label cost memory and load time and say nothing.
    keep = np.flatnonzero(np.abs(coef).max(axis=0) >= 1e-3)
    vocabulary = vec.get_feature_names_out()
    return {
        "features_version": FEATURES_VERSION,
        "labels": [str(lb) for lb in model.classes_],
        "vocabulary": [str(vocabulary[i]) for i in keep],
        "idf": [round(float(vec.idf_[i]), 5) for i in keep],
        "coef": [[round(float(v), 4) for v in row[keep]] for row in coef],
        "intercept": [round(float(v), 4) for v in model.intercept_],
    }


def train(kb: KnowledgeBase | None = None, examples: list[Example] | None = None) -> dict[str, Any]:
    kb = kb or load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    examples = examples if examples is not None else all_examples(kb)
    featurize = Featurizer(kb)
    data = fit([featurize(e) for e in examples], [e.label for e in examples])
    entries = entry_examples(kb)
    data["entries"] = fit([entry_features(featurize, e) for e in entries], [e.label for e in entries])
    data["entries"]["trained_on"] = len(entries)
    digest = hashlib.sha256()
    for path in [*writer_files(), DEV_FILE]:
        digest.update(path.read_bytes())
    data["data_sha256"] = digest.hexdigest()
    data["trained_on"] = len(examples)
    data["writers"] = sorted({e.writer for e in examples})
    return data


@dataclass
class HeldOut:
    """Router accuracy per writer, each measured by a model trained without that writer."""

    by_writer: dict[str, tuple[int, int]]
    confusions: Counter[tuple[str, str]]

    @property
    def correct(self) -> int:
        return sum(c for c, _ in self.by_writer.values())

    @property
    def total(self) -> int:
        return sum(t for _, t in self.by_writer.values())


def held_out_models(kb: KnowledgeBase, examples: list[Example]) -> Iterable[tuple[str, IntentModel, Featurizer]]:
    """For each writer of tests/eval/writers: the router (with its entry model) trained on everything but that
    writer's messages."""
    featurize = Featurizer(kb)
    writers = sorted({e.writer for e in examples} - {"knowledge", "dev"})
    entries = entry_examples(kb)
    for w in writers:
        train_set = [e for e in examples if e.writer != w]
        entry_set = [e for e in entries if e.writer != w]
        data = fit([featurize(e) for e in train_set], [e.label for e in train_set])
        data["entries"] = fit([entry_features(featurize, e) for e in entry_set], [e.label for e in entry_set])
        yield w, IntentModel.from_json(data), featurize


def held_out_advisor(kb: KnowledgeBase, writer: str) -> LinearModel:
    """The guideline advisor trained without one writer's project descriptions."""
    from bot.advisor_train import train as train_advisor

    return LinearModel.from_json(train_advisor(kb, exclude_writer=writer))


def held_out_report(kb: KnowledgeBase | None = None) -> HeldOut:
    kb = kb or load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    examples = all_examples(kb)
    by_writer: dict[str, tuple[int, int]] = {}
    confusions: Counter[tuple[str, str]] = Counter()
    for w, model, featurize in held_out_models(kb, examples):
        mine = [e for e in examples if e.writer == w]
        hits = 0
        for e in mine:
            probs = model.probabilities(featurize(e))
            if e.context.topic is None:
                probs = probs * [0.0 if lb.startswith("act.") else 1.0 for lb in model.labels]
            got = model.labels[int(probs.argmax())]
            hits += got == e.label
            if got != e.label:
                confusions[(e.label, got)] += 1
        by_writer[w] = (hits, len(mine))
    return HeldOut(by_writer, confusions)


def main(argv: list[str] | None = None) -> int:
    args = list(argv or [])
    if args and args[0] == "--held-out":
        report = held_out_report()
        for w, (c, t) in report.by_writer.items():
            print(f"  {w:<16} {c:>4}/{t:<4} {c / t:.1%}")
        print(f"router, each writer held out: {report.correct}/{report.total} = {report.correct / report.total:.1%}")
        by_label: dict[str, int] = defaultdict(int)
        for (want, got), n in report.confusions.most_common(15):
            print(f"  {want} -> {got}: {n}")
            by_label[want] += n
        return 0
    out = Path(args[0]) if args else MODEL_FILE
    model = train()
    out.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {out}: {model['trained_on']} messages from {len(model['writers'])} writers and sets, "
          f"{len(model['vocabulary'])} features")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
