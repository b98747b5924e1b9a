"""Train the guideline advisor's classifier and write bot/advisor_model.json (`scripts/train-advisor`).

Needs scikit-learn (a test extra; the service itself never imports it). Trains on the labelled project
descriptions in tests/eval/projects.yaml except the held-out third (bot.advisor.held_out), chooses how the
classifier's probabilities and the aspects are mixed by 5-fold cross-validation on the training part only,
and exports the TF-IDF vocabulary, the idf weights and one logistic regression per guideline.

Deterministic: the same labelled set and knowledge give the same file (tests/test_advisor.py checks that
the shipped file is what this script makes).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from bot.advisor import FEATURES_VERSION, MODEL_FILE, AspectFinder, Params, features, held_out
from bot.analysis import TextAnalyzer
from bot.knowledge.loader import KnowledgeBase, load_knowledge
from bot.settings import DEFAULT_KNOWLEDGE_DIR, REPO_ROOT

PROJECTS_FILE = REPO_ROOT / "tests" / "eval" / "projects.yaml"
WRITERS_DIR = REPO_ROOT / "tests" / "eval" / "writers"
C = 8.0  # inverse regularization: little data, many n-grams


@dataclass(frozen=True)
class Project:
    text: str
    guidelines: tuple[int, ...]


def load_projects(path: Path = PROJECTS_FILE) -> list[Project]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Project(p["text"], tuple(p["guidelines"])) for p in data["projects"]]


def writer_projects(exclude_writer: str | None = None) -> list[Project]:
    """The project descriptions of the writers' sets (tests/eval/writers/), labelled by their writers: messages
    that ask which guideline a project fits, and the first turn of a conversation that does."""
    out: list[Project] = []
    for path in sorted(WRITERS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if str(data.get("writer")) == exclude_writer:
            continue
        items = list(data.get("messages") or []) + [c["turns"][0] for c in data.get("conversations") or []]
        for m in items:
            wanted = m.get("guidelines")
            if m.get("intent") == "guideline_fit" and isinstance(wanted, list) and not m.get("missing"):
                out.append(Project(str(m["text"]), tuple(int(n) for n in wanted[:2])))
    return out


def analyzer_for(kb: KnowledgeBase) -> TextAnalyzer:
    from bot.assistant import vocabulary

    return TextAnalyzer(kb.synonyms, vocabulary(kb))


def _fit(docs: list[list[str]], labels: list[tuple[int, ...]], numbers: list[int]):  # noqa: ANN202 - sklearn types
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer=lambda f: f, sublinear_tf=True, min_df=2, lowercase=False)
    x = vec.fit_transform(docs)
    models = []
    for n in numbers:
        y = np.array([n in ls for ls in labels], dtype=int)
        m = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=5000, random_state=0)
        models.append(m.fit(x, y))
    return vec, models


def _cv_probabilities(docs: list[list[str]], labels: list[tuple[int, ...]], numbers: list[int]) -> np.ndarray:
    from sklearn.model_selection import KFold

    out = np.zeros((len(docs), len(numbers)))
    for train_idx, test_idx in KFold(5, shuffle=True, random_state=0).split(docs):
        vec, models = _fit([docs[i] for i in train_idx], [labels[i] for i in train_idx], numbers)
        x = vec.transform([docs[i] for i in test_idx])
        for j, m in enumerate(models):
            out[test_idx, j] = m.predict_proba(x)[:, 1]
    return out


def decide(probs: list[float], aspects: list[int], outside: bool, numbers: list[int], p: Params) -> list[int]:
    """The same rule as GuidelineAdvisor.advise, on precomputed evidence."""
    scores = []
    for n, prob, k in zip(numbers, probs, aspects, strict=True):
        s = (1 - p.aspect_weight) * prob + p.aspect_weight * min(1.0, k / p.aspects_for_full)
        if outside and not k:
            s *= 1 - p.outside_penalty
        scores.append((round(s, 3), n))
    scores.sort(reverse=True)
    fits = [n for s, n in scores[:1] if s >= p.threshold]
    fits += [
        n
        for s, n in scores[1:2]
        if fits
        and s >= max(p.threshold, p.second_threshold)
        and (aspects[numbers.index(n)] or not p.second_needs_aspect)
    ]
    return fits


def correct(predicted: list[int], expected: tuple[int, ...]) -> bool:
    if sorted(predicted) != sorted(expected):
        return False
    return len(expected) != 1 or predicted[0] == expected[0]


def _tune(probs: np.ndarray, aspects: list[list[int]], outside: list[bool], labels, numbers: list[int]) -> Params:
    best: tuple[float, Params] | None = None
    grid = itertools.product(
        (0.3, 0.4, 0.5, 0.6), (0.35, 0.4, 0.45, 0.5, 0.55), (0.0, 0.5, 0.8), (1, 2), (0.0, 0.55, 0.65), (False, True)
    )  # aspect weight, threshold, outside penalty, aspects for full evidence, second threshold, second's aspect
    for w, t, pen, full, second, needs in grid:
        p = Params(
            aspect_weight=w,
            threshold=t,
            outside_penalty=pen,
            aspects_for_full=full,
            second_threshold=second,
            second_needs_aspect=needs,
        )
        hits = sum(
            correct(decide(list(probs[i]), aspects[i], outside[i], numbers, p), labels[i]) for i in range(len(labels))
        )
        # Ties go to the first setting of the grid: the simplest, most even mix.
        if best is None or hits > best[0]:
            best = (hits, p)
    assert best is not None
    return best[1]


def train(
    kb: KnowledgeBase | None = None, projects_file: Path = PROJECTS_FILE, *, exclude_writer: str | None = None
) -> dict:
    """`exclude_writer`: leave that writer's descriptions out (to measure on it)."""
    kb = kb or load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    analyzer = analyzer_for(kb)
    numbers = list(kb.guidelines)
    items = [p for p in load_projects(projects_file) if not held_out(p.text)]
    items += [p for p in writer_projects(exclude_writer) if not held_out(p.text)]
    analyzed = [analyzer.analyze(p.text) for p in items]
    docs = [features(a) for a in analyzed]
    labels = [p.guidelines for p in items]
    finders = {n: AspectFinder(analyzer, g.aspects) for n, g in kb.guidelines.items()}
    outside_finder = AspectFinder(analyzer, kb.outside_guidelines)
    aspects = [[len(finders[n].found(a)) for n in numbers] for a in analyzed]
    outside = [bool(outside_finder.found(a)) for a in analyzed]

    params = _tune(_cv_probabilities(docs, labels, numbers), aspects, outside, labels, numbers)
    vec, models = _fit(docs, labels, numbers)
    vocabulary = vec.get_feature_names_out().tolist()
    return {
        "features_version": FEATURES_VERSION,
        "data_sha256": _data_digest(projects_file),
        "trained_on": len(items),
        "labels": numbers,
        "params": asdict(params),
        "vocabulary": vocabulary,
        "idf": [round(float(v), 6) for v in vec.idf_],
        "coef": [[round(float(v), 6) for v in m.coef_[0]] for m in models],
        "intercept": [round(float(m.intercept_[0]), 6) for m in models],
    }


def _data_digest(projects_file: Path) -> str:
    digest = hashlib.sha256(projects_file.read_bytes())
    for path in sorted(WRITERS_DIR.glob("*.yaml")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else MODEL_FILE
    model = train()
    out.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(
        f"wrote {out}: {model['trained_on']} descriptions, {len(model['vocabulary'])} features, "
        f"params {model['params']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
