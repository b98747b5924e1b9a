"""`budgetbot review`: unanswered questions from the log, grouped by similarity, and FAQ stubs to fill in."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from bot.answer import Answer, AnswerKind
from bot.cli import main as cli_main
from bot.review import SingleFlight, group_wordings, review_groups, run_review
from bot.settings import Settings
from bot.storage import Database, SqlQuestionLog
from bot.storage.models import QuestionLogEntry
from tests.support.questions import (
    dissimilar_questions,
    fill_question_log,
    group_by_scoring_every_head,
    near_duplicates,
)

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
    # BUDGETBOT_REVIEW_MAX_ROWS bounds what the command reads: only the newest wording, so one group.
    monkeypatch.setenv("BUDGETBOT_REVIEW_MAX_ROWS", "1")
    assert cli_main(["review", "--days", "7", "--limit", "10"]) == 0
    assert "1 group(s)" in capsys.readouterr().out


def test_review_reports_an_unreachable_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.server import free_port

    settings = _settings(tmp_path, f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    assert run_review(settings, days=7, limit=10, yaml_out=None) == 1
    assert "cannot open the database" in capsys.readouterr().err


# --- grouping at scale: typos, Thai spelling variants, and an index instead of every pair ---------------------

COMPUTER = "โครงการจัดซื้อคอมพิวเตอร์ขอใช้งบบูรณาการได้ไหม"
COMPUTER_VARIANTS = [
    "โครงการจัดซื้อคอมพิวเตอรขอใช้งบบูรณาการได้ไหม",  # the thanthakhat forgotten
    "โครงกานจัดซื้อคอมพิวเตอร์ขอใช้งบบูรณาการได้ไหม",  # การ typed as it sounds
    "โครงการจัดชื้อคอมพิวเตอร์ขอใช้งบบูรณาการได้ไหม",  # ซ / ช
    "โครงการจัดซื้อคอมพิวเตอร์ขอใช้งบบูรณาการได้มั้ย",  # spoken ไหม
    "โครงการจัดซื้อคอมพิวเตอร์ ขอใช้งบบูรณาการ ได้ไหมครับ",  # spaces and a polite particle
    "โครงการจัดซื้อคอมพิวเตอร์ขอใช้งบบูรณาการได้หรือไม่คะ",
]
PLAN_2570 = "แผนงานบูรณาการรัฐบาลดิจิทัลปี 2570 เปิดรับเมื่อไร"
PLAN_2570_VARIANTS = [
    "เเผนงานบูรณาการรัฐบาลดิจิทัลปี ๒๕๗๐ เปิดรับเมื่อไร",  # เ+เ for แ, Thai digits: the same wording
    "แผนงาน\u200bบูรณาการรัฐบาลดิจิทัล ปี 2570 เปิดรับเมื่อไร",  # a zero-width space pasted in
    "แผนงานบูรณาการรัฐบาลดิจิตอลปี 2570 เปิดรับเมื่อไหร่",  # ดิจิตอล, ไหร่
    "แผนงานบูรณาการรัฐบาลดิจิทัลปี 2570 เปิดรับเมื่อไร่",  # a stray tone mark
]
CLOUD = ["ขอ cloud ได้ไหม", "ขอ Cloud ได้ไหมคะ", "ขอcloudได้ไหม"]  # short: a few bigrams only


def test_typos_and_thai_spelling_variants_group_among_thousands_of_other_questions(database: Database) -> None:
    # 3,000 dissimilar questions around them, many ending in ได้ไหม too: the index must still find the variants.
    fill_question_log(database, dissimilar_questions(3_000, seed=3), now=NOW - timedelta(minutes=5))
    for question in [COMPUTER] * 3 + COMPUTER_VARIANTS + [PLAN_2570] * 2 + PLAN_2570_VARIANTS + CLOUD:
        _record(database, question, AnswerKind.FALLBACK, 0.1)

    groups = review_groups(database, days=1, limit=10_000)
    by_representative = {g.representative: g for g in groups}
    computer = by_representative[COMPUTER]
    assert computer.count == 3 + len(COMPUTER_VARIANTS)
    assert set(computer.variants) == {COMPUTER, *COMPUTER_VARIANTS}
    plan = by_representative[PLAN_2570]
    assert plan.count == 2 + len(PLAN_2570_VARIANTS)
    assert set(plan.variants) == {PLAN_2570, *(" ".join(v.split()) for v in PLAN_2570_VARIANTS)}
    cloud = next(g for g in groups if CLOUD[0] in g.variants)
    assert set(cloud.variants) == set(CLOUD)
    # And the 3,000 others stay apart, one group each.
    assert [g.count for g in groups[3:]] == [1] * 3_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_index_groups_like_comparing_every_head(seed: int) -> None:
    wordings = near_duplicates(500, seed=seed)
    expected = {frozenset(g) for g in group_by_scoring_every_head(wordings)}
    got = group_wordings(wordings)
    same = sum(len(g) for g in {frozenset(g) for g in got} & expected)
    print(f"seed {seed}: {len(wordings)} wordings, {len(expected)} groups; {same} wordings grouped identically")
    assert sorted(i for g in got for i in g) == list(range(len(wordings)))  # a partition of every wording
    assert same >= 0.98 * len(wordings)
    assert len(got) <= 1.02 * len(expected)  # near-duplicates found: hardly any group split in two


def test_review_reads_the_most_recent_wordings_with_all_their_rows(database: Database) -> None:
    recent_again = "ขอทราบขั้นตอนการโอนงบประมาณข้ามหน่วยงาน"
    older_busy = "ระบบบันทึกคำขอล่มตั้งแต่เมื่อวาน"
    recent_once = "มีตัวอย่างแบบฟอร์มสรุปโครงการไหม"
    for _ in range(4):
        _record(database, recent_again, AnswerKind.FALLBACK, 0.1, ago=timedelta(days=3))
    _record(database, recent_again, AnswerKind.FALLBACK, 0.1, ago=timedelta(hours=1))
    for _ in range(10):
        _record(database, older_busy, AnswerKind.FALLBACK, 0.1, ago=timedelta(days=2))
    _record(database, recent_once, AnswerKind.FALLBACK, 0.1, ago=timedelta(hours=2))

    # The two most recently asked wordings, each counted over all of its rows, the old ones included.
    newest = review_groups(database, days=7, limit=10, max_rows=2)
    assert [(g.representative, g.count) for g in newest] == [(recent_again, 5), (recent_once, 1)]
    every = review_groups(database, days=7, limit=10, max_rows=3)
    assert [(g.representative, g.count) for g in every] == [(older_busy, 10), (recent_again, 5), (recent_once, 1)]


def test_rows_without_a_normalized_text_join_their_wording_and_are_masked(database: Database) -> None:
    # Rows from before questions were normalized or masked when logged: inserted as they were.
    with database.engine.begin() as connection:
        for question in ("ขอ Cloud  ได้ไหม", "โทรหาผมที่ 081-234-5678 ได้ไหม"):
            connection.execute(
                QuestionLogEntry.__table__.insert().values(
                    asked_at=NOW - timedelta(hours=2),
                    channel="line",
                    user_hash="0" * 64,
                    question=question,
                    normalized_question=None,
                    answer_kind="fallback",
                    confidence=0.1,
                )
            )
    _record(database, "ขอ cloud ได้ไหม", AnswerKind.FALLBACK, 0.1)
    groups = review_groups(database, days=1, limit=10)
    cloud = next(g for g in groups if "ขอ cloud ได้ไหม" in g.variants)
    assert cloud.count == 2 and set(cloud.variants) == {"ขอ cloud ได้ไหม", "ขอ Cloud ได้ไหม"}
    phone = next(g for g in groups if "โทรหาผม" in g.representative)
    assert "5678" not in phone.representative and "[เบอร์โทรศัพท์]" in phone.representative


# --- one review at a time ------------------------------------------------------------------------------------


class _Computation:
    """A computation the test lets finish, recording how many ran at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.most_at_once = 0
        self.calls: list[str] = []

    def __call__(self, label: str, *, fail: bool = False) -> Callable[[], Awaitable[str]]:
        async def compute() -> str:
            self.calls.append(label)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            try:
                await self.release.wait()
                if fail:
                    raise RuntimeError("database gone")
                return f"result of {label}"
            finally:
                self.running -= 1

        return compute


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_callers_with_the_same_parameters_share_one_computation() -> None:
    async def scenario() -> None:
        flight: SingleFlight[tuple[int, int], str] = SingleFlight()
        work = _Computation()
        callers = [asyncio.create_task(flight.run((7, 50), work(f"call {n}"))) for n in range(6)]
        await _settle()
        work.release.set()
        results = await asyncio.gather(*callers)
        assert work.calls == ["call 0"] and results == ["result of call 0"] * 6 and flight.computed == 1
        # Once it is done, the next caller gets a fresh computation (new questions may have come in).
        assert await flight.run((7, 50), work("later")) == "result of later"
        assert flight.computed == 2

    asyncio.run(scenario())


def test_other_parameters_wait_for_the_running_computation() -> None:
    async def scenario() -> None:
        flight: SingleFlight[tuple[int, int], str] = SingleFlight()
        work = _Computation()
        week = [asyncio.create_task(flight.run((7, 50), work("week"))) for _ in range(3)]
        await _settle()
        month = [asyncio.create_task(flight.run((30, 50), work(f"month {n}"))) for n in range(3)]
        await _settle()
        assert work.calls == ["week"]  # the month waits instead of running beside it
        work.release.set()
        assert await asyncio.gather(*week) == ["result of week"] * 3
        assert await asyncio.gather(*month) == ["result of month 0"] * 3  # the later month callers shared it
        assert work.most_at_once == 1 and flight.computed == 2

    asyncio.run(scenario())


def test_a_failure_reaches_every_caller_and_a_caller_leaving_cancels_nothing() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        work = _Computation()
        failing = [asyncio.create_task(flight.run("k", work("broken", fail=True))) for _ in range(2)]
        await _settle()
        work.release.set()
        for outcome in await asyncio.gather(*failing, return_exceptions=True):
            assert isinstance(outcome, RuntimeError)

        work.release.clear()
        leaving = asyncio.create_task(flight.run("k", work("kept")))
        staying = asyncio.create_task(flight.run("k", work("not used")))
        await _settle()
        leaving.cancel()  # e.g. an admin closing the page
        await _settle()
        work.release.set()
        assert await staying == "result of kept"
        assert work.calls == ["broken", "kept"]

    asyncio.run(scenario())
