"""`budgetbot review`: unanswered questions from the log, grouped by similarity, and FAQ stubs to fill in."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from bot.answer import Answer, AnswerKind
from bot.cli import main as cli_main
from bot.review import review_groups, run_review
from bot.settings import Settings
from bot.storage import Database, SqlQuestionLog
from bot.storage.models import QuestionLogEntry

NOW = datetime.now(timezone.utc)


def _record(
    db: Database,
    question: str,
    kind: AnswerKind,
    confidence: float,
    *,
    ago: timedelta = timedelta(hours=1),
    user: str = "U1",
) -> None:
    from bot.service import LoggedQuestion  # imports the assistant: only when a test records questions

    answer = Answer(kind=kind, text="คำตอบ", confidence=confidence)
    SqlQuestionLog(db, salt="s").record_sync(LoggedQuestion(NOW - ago, "line", user, question, answer))


def _fill(db: Database) -> None:
    # Most asked: the deadline, in four wordings (5 questions).
    for q in [
        "ปีงบ 2570 ยื่นได้ถึงวันไหน",
        "ปีงบ 2570 ยื่นได้ถึงวันไหน",
        "ปีงบ 2570 ยื่นได้ถึงวันไหนครับ",
        "ปีงบ  2570 ยื่นได้ถึงวันไหนคะ",
        "ปีงบ 2570 ยื่นได้ถึงวันไหน?",
    ]:
        _record(db, q, AnswerKind.FALLBACK, 0.2)
    # Next: a guess below the confidence threshold, three times.
    for q in ["ขอ cloud ได้ไหม", "ขอ Cloud ได้ไหม", "ขอ cloud ได้มั้ย"]:
        _record(db, q, AnswerKind.GUIDELINE_MATCH, 0.5)
    # Once: a confident-looking kind with low confidence still needs review.
    _record(db, "อบรมพนักงานใช้ excel ขอได้ไหม", AnswerKind.ELIGIBILITY, 0.4)
    # Not for review: answered confidently, or too old.
    _record(db, "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร", AnswerKind.FAQ, 0.95)
    _record(db, "สวัสดีครับ", AnswerKind.GREETING, 1.0)
    _record(db, "คำถามเก่ามากที่ไม่มีใครตอบได้", AnswerKind.FALLBACK, 0.1, ago=timedelta(days=30))


def test_similar_questions_are_grouped_most_frequent_first(database: Database) -> None:
    _fill(database)
    groups = review_groups(database, days=7, limit=10)

    assert [g.count for g in groups] == [5, 3, 1]
    deadline, cloud, training = groups
    assert deadline.representative == "ปีงบ 2570 ยื่นได้ถึงวันไหน"
    assert set(deadline.variants) == {
        "ปีงบ 2570 ยื่นได้ถึงวันไหน",
        "ปีงบ 2570 ยื่นได้ถึงวันไหนครับ",
        "ปีงบ 2570 ยื่นได้ถึงวันไหนคะ",  # double space collapsed: the same wording
        "ปีงบ 2570 ยื่นได้ถึงวันไหน?",
    }
    assert deadline.kinds == ["fallback"]
    assert cloud.kinds == ["guideline_match"] and len(cloud.variants) >= 2
    assert training.kinds == ["eligibility"]
    assert all(g.last_seen > NOW - timedelta(hours=2) for g in groups)
    assert not any("แผนงาน" in v or "สวัสดี" in v or "เก่ามาก" in v for g in groups for v in g.variants)

    assert [g.count for g in review_groups(database, days=7, limit=2)] == [5, 3]
    assert [g.count for g in review_groups(database, days=60, limit=10)] == [5, 3, 1, 1]
    # A lower threshold leaves out the 0.4 and 0.5 answers, never the fallbacks.
    assert [g.count for g in review_groups(database, days=7, limit=10, min_confidence=0.3)] == [5]


def test_did_you_mean_rows_from_older_versions_are_reviewed(database: Database) -> None:
    # "did_you_mean" was an answer kind once: rows logged then still count, whatever their confidence.
    with database.engine.begin() as connection:
        connection.execute(
            QuestionLogEntry.__table__.insert().values(
                asked_at=NOW - timedelta(hours=3),
                channel="telegram",
                user_hash="0" * 64,
                question="ขอ งบ ai ได้ไหม",
                answer_kind="did_you_mean",
                confidence=0.9,
            )
        )
    (group,) = review_groups(database, days=1, limit=10)
    assert (group.representative, group.kinds) == ("ขอ งบ ai ได้ไหม", ["did_you_mean"])


def test_variants_are_capped_at_ten(database: Database) -> None:
    for n in range(15):
        _record(database, f"โครงการที่ {n} ขอใช้งบบูรณาการได้ไหม", AnswerKind.FALLBACK, 0.1)
    (group,) = review_groups(database, days=1, limit=10)
    assert group.count == 15
    assert len(group.variants) == 10 == len(set(group.variants))


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", database_url=database_url)  # type: ignore[call-arg]


def test_review_prints_a_table_and_writes_yaml_stubs(
    database: Database, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(database)
    out_file = tmp_path / "review" / "stubs.yaml"
    assert run_review(_settings(tmp_path, database_url), days=7, limit=10, yaml_out=out_file) == 0

    printed = capsys.readouterr().out
    assert "ปีงบ 2570 ยื่นได้ถึงวันไหน" in printed and "ขอ cloud ได้ไหม" in printed
    assert printed.index("ปีงบ 2570") < printed.index("ขอ cloud")  # most frequent first
    assert "แผนงานบูรณาการ" not in printed

    text = out_file.read_text(encoding="utf-8")
    stubs = yaml.safe_load(text)["faq"]
    assert [s["id"] for s in stubs] == ["todo-1", "todo-2", "todo-3"]
    first = stubs[0]
    assert set(first) == {"id", "title", "title_en", "questions", "answer", "answer_en", "sources"}
    assert "ปีงบ 2570 ยื่นได้ถึงวันไหน" in first["questions"] and len(first["questions"]) == 4
    assert (first["answer"], first["answer_en"], first["sources"]) == ("", "", [])
    # The comment says where the entries go, and that this file must not go there as it is.
    comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "knowledge/faq" in comment and "Do NOT" in comment


def test_review_with_nothing_to_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path, f"sqlite:///{tmp_path}/empty/budgetbot.sqlite3")
    out_file = tmp_path / "stubs.yaml"
    assert run_review(settings, days=7, limit=10, yaml_out=out_file) == 0
    assert "Nothing to review" in capsys.readouterr().out
    assert yaml.safe_load(out_file.read_text(encoding="utf-8")) == {"faq": []}


def test_review_refuses_to_write_stubs_into_the_knowledge_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3").model_copy(
        update={"knowledge_dir": tmp_path / "knowledge"}
    )
    target = tmp_path / "knowledge" / "faq_todo.yaml"
    assert run_review(settings, days=7, limit=10, yaml_out=target) == 2
    assert not target.exists()
    assert "knowledge directory" in capsys.readouterr().err


def test_review_command_reads_the_configured_database(
    database: Database,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _fill(database)
    for name in list(os.environ):
        if name.startswith("BUDGETBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("BUDGETBOT_DATABASE_URL", database_url)
    out_file = tmp_path / "out.yaml"
    assert cli_main(["review", "--days", "7", "--limit", "1", "--yaml", str(out_file)]) == 0
    assert "ปีงบ 2570 ยื่นได้ถึงวันไหน" in capsys.readouterr().out
    assert len(yaml.safe_load(out_file.read_text(encoding="utf-8"))["faq"]) == 1


def test_review_reports_an_unreachable_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.server import free_port

    settings = _settings(tmp_path, f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    assert run_review(settings, days=7, limit=10, yaml_out=None) == 1
    assert "cannot open the database" in capsys.readouterr().err
