"""The intent router: the shipped model is the one its data give, it generalises to writers it never saw, and the
writers' sets are answered as well as measured when it shipped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.router import MODEL_FILE, Context, IntentModel, features
from bot.router_train import WRITERS_DIR, held_out_report, train
from bot.writer_eval import Report, evaluate_file
from tests.support.core import TODAY, shipped_assistant

# Measured when the model shipped (README, "How the assistant understands a message"); a drop below these is a
# regression in the data, the features or the rules.
ROUTER_HELD_OUT = 0.90
SINGLE_IN_SAMPLE = 0.90
TURNS_IN_SAMPLE = 0.85


def test_the_shipped_router_is_what_scripts_train_router_makes() -> None:
    pytest.importorskip("sklearn")
    shipped = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    fresh = train()
    assert fresh["data_sha256"] == shipped["data_sha256"], "tests/eval/writers changed: run scripts/train-router"
    assert fresh["labels"] == shipped["labels"] and fresh["vocabulary"] == shipped["vocabulary"]
    assert np.allclose(fresh["coef"], shipped["coef"], atol=1e-3)
    assert fresh["entries"]["labels"] == shipped["entries"]["labels"]


def test_the_run_time_model_computes_what_scikit_learn_does() -> None:
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    docs = [["w:ปี", "w:71", "t:fiscal_year"], ["w:แนวทาง", "w:2"], ["w:ปี", "w:เปิด"], ["w:แนวทาง", "g:number"]] * 3
    labels = ["status", "guideline_info", "status", "guideline_info"] * 3
    vec = TfidfVectorizer(analyzer=lambda f: f, sublinear_tf=True, lowercase=False)
    x = vec.fit_transform(docs)
    lr = LogisticRegression(max_iter=1000).fit(x, labels)
    ours = IntentModel(
        list(lr.classes_), vec.get_feature_names_out().tolist(), vec.idf_.tolist(), lr.coef_.tolist(),
        lr.intercept_.tolist(),
    )  # fmt: skip
    # Two classes: scikit-learn keeps one row of coefficients; the softmax of (0, z) is its sigmoid.
    if len(lr.classes_) == 2:
        coef = np.vstack([np.zeros_like(lr.coef_[0]), lr.coef_[0]])
        ours = IntentModel(list(lr.classes_), vec.get_feature_names_out().tolist(), vec.idf_.tolist(),
                           coef.tolist(), [0.0, float(lr.intercept_[0])])  # fmt: skip
    probe = ["w:ปี", "w:แนวทาง", "w:71"]
    assert np.allclose(ours.probabilities(probe), lr.predict_proba(vec.transform([probe]))[0], atol=1e-6)


def test_a_follow_up_act_needs_an_answer_to_follow() -> None:
    assistant = shipped_assistant()
    a = assistant.analyzer.analyze("ทำไม")
    ev = assistant.slots.read(a, TODAY).evidence
    alone = assistant.router.classify(a, ev, Context())
    after = assistant.router.classify(a, ev, Context(topic="status"))
    assert alone.act is None and after.label == "act.why"
    assert "ctx:status" in features(a, ev, Context(topic="status"))


def test_the_router_generalises_to_writers_it_never_saw() -> None:
    pytest.importorskip("sklearn")
    report = held_out_report()
    assert len(report.by_writer) >= 6
    assert report.correct / report.total >= ROUTER_HELD_OUT, report.by_writer


def test_the_writers_sets_are_answered_as_measured() -> None:
    assistant = shipped_assistant()
    report = Report()
    for path in sorted(WRITERS_DIR.glob("*.yaml")):
        report.extend(evaluate_file(assistant, path))
    singles = sum(r.ok for r in report.singles) / len(report.singles)
    turns = sum(r.ok for r in report.turns) / len(report.turns)
    assert singles >= SINGLE_IN_SAMPLE and turns >= TURNS_IN_SAMPLE, (singles, turns)
