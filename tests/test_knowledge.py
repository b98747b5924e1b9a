"""The knowledge base loads, `kb check` passes on it, and broken copies are reported with file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge.check import check_knowledge
from bot.knowledge.loader import KnowledgeLoadError, load_knowledge
from bot.settings import DEFAULT_KNOWLEDGE_DIR
from tests.support.core import copy_knowledge

SOURCES = Path(__file__).resolve().parents[2] / "shared" / "sources"


def kb_check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "kb", "check", str(directory)], capture_output=True, text=True, timeout=120
    )


def test_shipped_knowledge_passes_kb_check() -> None:
    result = kb_check(DEFAULT_KNOWLEDGE_DIR)
    assert result.returncode == 0, result.stderr
    assert "knowledge check OK" in result.stdout


def test_every_fact_cites_an_existing_source_document() -> None:
    kb = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    for source in kb.sources.values():
        assert (SOURCES / source.file).is_file(), source.file
    for entry in kb.faq.values():
        assert entry.sources and all(s in kb.sources for s in entry.sources), entry.id


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test set-up: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    target = kdir / "faq_plan.yaml"
    _edit(target, "  - id: plan-why\n", "  - id: plan-why\n    title: [unclosed\n")
    result = kb_check(kdir)
    assert result.returncode == 1
    assert "faq_plan.yaml:" in result.stderr and "YAML error" in result.stderr


def test_unknown_field_is_reported_at_its_line(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    target = kdir / "faq_history.yaml"
    _edit(target, "  - id: act-published\n", "  - id: act-published\n    answr: typo\n")
    with pytest.raises(KnowledgeLoadError) as err:
        load_knowledge(kdir)
    problem = err.value.problems[0]
    assert problem.file.endswith("faq_history.yaml")
    assert problem.line == _line_of(target, "answr: typo")
    assert "answr" in problem.message
    assert kb_check(kdir).returncode == 1


def test_missing_answer_is_reported(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    target = kdir / "faq_budget.yaml"
    text = target.read_text(encoding="utf-8")
    start = text.index("    answer: >-\n      เอกสารที่มีไม่ได้ระบุวงเงิน")
    end = text.index("    answer_en:", start)
    target.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(KnowledgeLoadError) as err:
        load_knowledge(kdir)
    assert any("answer" in p.message and "Field required" in p.message for p in err.value.problems)


def test_unknown_source_and_broken_reference_are_errors(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    _edit(
        kdir / "faq_plan.yaml",
        "    sources: [dga-briefing-fy2566]\n    related: [plan-why, guidelines-overview]",
        "    sources: [no-such-source]\n    related: [plan-why, guidelines-overview]",
    )
    _edit(kdir / "faq_plan.yaml", "related: [fy2566-briefing, plan-owner]", "related: [fy2566-briefing, nobody]")
    with pytest.raises(KnowledgeLoadError) as err:
        load_knowledge(kdir)
    messages = " | ".join(p.message for p in err.value.problems)
    assert "unknown source 'no-such-source'" in messages
    assert "related entry 'nobody' does not exist" in messages


def test_source_file_missing_from_sources_dir_is_an_error(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    _edit(kdir / "sources.yaml", "file: 000_ec2b66b9135cbd72.txt", "file: 999_missing.txt")
    report = check_knowledge(kdir, SOURCES)
    assert any("999_missing.txt" in p.message for p in report.errors)


def test_question_shared_by_two_entries_is_an_error(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    # The plan-what question added to act-published as well.
    _edit(
        kdir / "faq_history.yaml",
        '      - "กฎหมายนี้ออกเมื่อไหร่"\n',
        '      - "กฎหมายนี้ออกเมื่อไหร่"\n      - "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"\n',
    )
    report = check_knowledge(kdir, SOURCES)
    assert any(
        "act-published" in p.message and "plan-what" in p.message and "share" in p.message for p in report.errors
    )


def test_duplicate_entry_id_names_both_places(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    _edit(kdir / "faq_budget.yaml", "  - id: budget-limit\n", "  - id: fy2565-figures\n")
    with pytest.raises(KnowledgeLoadError) as err:
        load_knowledge(kdir)
    assert any("duplicate entry id 'fy2565-figures'" in p.message for p in err.value.problems)


def test_the_sources_folders_readme_is_not_a_source(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    _edit(kdir / "sources.yaml", "    file: budget-procedures-act-2561.txt\n", "    file: README.md\n")
    report = check_knowledge(kdir, SOURCES)
    assert any("README.md" in e.message and "not a source document" in e.message for e in report.errors)


def test_the_fiscal_year_rule_cites_the_budget_procedures_act() -> None:
    kb = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    assert not any(s.file.lower().startswith("readme") for s in kb.sources.values())
    assert any(s.file == "budget-procedures-act-2561.txt" for s in kb.sources.values())


def test_an_aspect_with_an_empty_word_group_is_reported_at_its_line(tmp_path: Path) -> None:
    kdir = copy_knowledge(tmp_path)
    target = kdir / "guidelines.yaml"
    _edit(target, "    all_of:\n      - [ซื้อ,", "    all_of:\n      - []\n      - [ซื้อ,")
    with pytest.raises(KnowledgeLoadError) as err:
        load_knowledge(kdir)
    problem = err.value.problems[0]
    assert problem.file.endswith("guidelines.yaml") and problem.line is not None
    assert "all_of" in problem.message


def test_an_editor_extends_the_vocabulary_in_language_yaml(tmp_path: Path) -> None:
    """A synonym group added by a DGA editor reaches routing and matching with no code change."""
    from bot.assistant import Assistant
    from tests.support.core import TODAY

    kdir = copy_knowledge(tmp_path)
    question = "ลุงป้อมเกี่ยวข้องกับแผนนี้ยังไง"
    before, _ = Assistant.build(load_knowledge(kdir)).respond(question, None, TODAY)
    group = "  - canonical: ประวิตร\n    variants: ["
    _edit(kdir / "language.yaml", group, group + "ลุงป้อม, ")
    after, _ = Assistant.build(load_knowledge(kdir)).respond(question, None, TODAY)
    # A guess from similar letters before; the fact, with confidence, once the editor has named the synonym.
    assert before.confidence < 0.6 and after.entry_id == "subcommittee-1-3" and after.confidence >= 0.9


IMPOSSIBLE_WINDOW = """  - year: 2565
    window:
      opens: 2026-13-40
      closes: 2021-02-30
      sources: [dga-briefing-fy2566]
"""


def _with_impossible_dates(tmp_path: Path) -> tuple[Path, int]:
    kdir = copy_knowledge(tmp_path)
    path = kdir / "fiscal_years.yaml"
    _edit(path, "  - year: 2565\n", IMPOSSIBLE_WINDOW)
    return kdir, _line_of(path, "opens: 2026-13-40")


def test_impossible_dates_are_each_reported_with_file_line_and_reason(tmp_path: Path) -> None:
    kdir, line = _with_impossible_dates(tmp_path)
    result = kb_check(kdir)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert f"fiscal_years.yaml:{line}:" in out and "'2026-13-40' is not a real date" in out, out
    assert f"fiscal_years.yaml:{line + 1}:" in out and "'2021-02-30' is not a real date" in out, out
    with pytest.raises(KnowledgeLoadError) as raised:
        load_knowledge(kdir)
    assert [p.line for p in raised.value.problems] == [line, line + 1]


def test_the_server_will_not_start_on_a_broken_knowledge_base_and_says_where(tmp_path: Path) -> None:
    kdir, line = _with_impossible_dates(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--knowledge", str(kdir), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr, result.stderr
    assert "cannot start" in result.stderr and f"fiscal_years.yaml:{line}:" in result.stderr, result.stderr
