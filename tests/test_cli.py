"""`budgetbot ask` as a user runs it: one question, or a question a line from stdin, as text or JSON."""

from __future__ import annotations

import json
import subprocess
import sys

FIELDS = {"kind", "text", "confidence", "suggestions", "sources", "fiscal_year", "accepting", "guideline"}


def budgetbot(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_ask_json_from_stdin_answers_each_line_on_one_line() -> None:
    questions = ["ปีงบ 66 ยังยื่นได้ไหม", "", "แนวทางมีอะไรบ้าง", "พรุ่งนี้ฝนตกไหม", "Is FY2571 accepting requests?"]
    result = budgetbot("ask", "--json", "--today", "2026-11-21", stdin="\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(questions)
    answers = [json.loads(line) for line in lines]
    for a in answers:
        assert FIELDS <= a.keys()
    assert answers[0]["kind"] == "fiscal_year_status" and answers[0]["fiscal_year"] == 2566
    assert answers[0]["accepting"] is False and answers[0]["as_of"] == "2026-11-21"
    assert answers[2]["kind"] == "faq"
    assert answers[3]["kind"] == "fallback"
    assert answers[4]["accepting"] is None and answers[4]["language"] == "en"


def test_today_flag_changes_the_answer() -> None:
    before = json.loads(budgetbot("ask", "--json", "--today", "2022-09-30", "ปีงบ 2566 ยังยื่นได้ไหม").stdout)
    after = json.loads(budgetbot("ask", "--json", "--today", "2022-10-01", "ปีงบ 2566 ยังยื่นได้ไหม").stdout)
    assert before["accepting"] is None  # not begun, and the sources give no window
    assert after["accepting"] is False  # FY 2566 began on 1 Oct 2022


def test_plain_ask_prints_the_answer_and_suggestions() -> None:
    result = budgetbot("ask", "--today", "2026-11-21", "ใครเป็นประธานคณะที่ 1.3")
    assert result.returncode == 0
    assert "ประวิตร" in result.stdout and "> " in result.stdout


def test_bad_date_is_a_usage_error() -> None:
    result = budgetbot("ask", "--today", "21/11/2026", "x")
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr


def test_ask_json_prints_the_parts_of_a_message_with_several_questions() -> None:
    result = budgetbot("ask", "--json", "--today", "2026-11-21", "ปี65ยังทันไหม แล้วปี72ล่ะ")
    answer = json.loads(result.stdout)
    assert [p["fiscal_year"] for p in answer["parts"]] == [2565, 2572]
    assert answer["kind"] == "fiscal_year_status" and answer["fiscal_year"] == 2565
    single = json.loads(budgetbot("ask", "--json", "--today", "2026-11-21", "ปีงบ 66 ยังยื่นได้ไหม").stdout)
    assert single["parts"] == []


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    result = budgetbot("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"budgetbot {version('budgetbot')}"


def test_scripts_run_explains_its_options_without_installing_anything() -> None:
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "run"
    shown = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    assert "--port PORT" in shown.stdout and "--host HOST" in shown.stdout
    wrong = subprocess.run(["bash", str(script), "--port", "eighty"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and "--port must be a number" in wrong.stderr


def test_an_invalid_setting_is_named_in_one_line_not_a_traceback() -> None:
    import os

    env = {**os.environ, "BUDGETBOT_USER_HASH_SALT": "", "BUDGETBOT_ASK_RATE_PER_CLIENT": "lots"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 2  # the systemd unit does not restart a refused start
    assert "Traceback" not in result.stderr
    assert "BUDGETBOT_USER_HASH_SALT" in result.stderr and "BUDGETBOT_ASK_RATE_PER_CLIENT" in result.stderr
