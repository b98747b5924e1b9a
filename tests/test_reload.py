"""Knowledge edits take effect without a restart: `POST /admin/reload` and the file watcher.

Each test runs the real app on its own copy of the shipped knowledge (tests/support/core.py copy_knowledge) and
edits that copy like a DGA staff member would. A bad edit must be refused with its file and line while the
assistant keeps answering from the last good version.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from watchfiles import Change

from bot.knowledge.watch import is_knowledge_file
from bot.settings import Settings
from handlers.app import create_app
from tests.support.core import copy_knowledge

TOKEN = "admin-token-for-reload-tests-42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUESTION = "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"
MARKER = "ข้อความทดสอบการโหลดใหม่หมายเลข 4821"  # appended to an answer: text the shipped knowledge never has
NEW_VARIANT = "ไข่มุกสีชมพูของกระทรวงคืออะไร"  # a wording no entry has until the test adds it
WATCH_TIMEOUT = 15.0  # a reload is about a second; a loaded CI machine may take several
REWRITE_AFTER = 3.0


@dataclass
class App:
    client: TestClient
    knowledge: Path

    def ask(self, question: str = QUESTION) -> dict[str, Any]:
        response = self.client.post("/api/ask", json={"question": question})
        assert response.status_code == 200, response.text
        return response.json()

    def ready_version(self) -> str:
        return str(self.client.get("/readyz").json()["knowledge"]["version"])

    def reload(self) -> tuple[int, dict[str, Any]]:
        response = self.client.post("/admin/reload", headers=AUTH)
        assert response.headers["content-type"].startswith("application/json")
        return response.status_code, response.json()

    def entry_file(self, entry_id: str) -> Path:
        """The knowledge file that defines `entry_id`."""
        for path in sorted(self.knowledge.glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if any(e.get("id") == entry_id for e in data.get("faq", [])):
                return path
        raise AssertionError(f"no file defines {entry_id}")

    def edit_entry(self, entry_id: str, *, append_answer: str = "", add_question: str | None = None) -> None:
        path = self.entry_file(entry_id)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        entry = next(e for e in data["faq"] if e["id"] == entry_id)
        entry["answer"] = f"{entry['answer']} {append_answer}".strip()
        if add_question:
            entry["questions"].append(add_question)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8")

    def insert_after_id(self, entry_id: str, line: str) -> tuple[Path, int]:
        """Insert `line` right after the entry's `- id:` line; returns the file and the new line's number."""
        path = self.entry_file(entry_id)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        index = next(i for i, text in enumerate(lines) if text.strip() == f"- id: {entry_id}")
        lines.insert(index + 1, line + "\n")
        path.write_text("".join(lines), encoding="utf-8")
        return path, index + 2


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("LINE_", "TELEGRAM_", "BUDGETBOT_")) and not name.startswith("BUDGETBOT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def start(tmp_path: Path, *, watch: bool) -> Iterator[App]:
    knowledge = copy_knowledge(tmp_path)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        knowledge_dir=knowledge,
        data_dir=tmp_path / "data",
        today=date(2026, 11, 21),
        watch_knowledge=watch,
        admin_token=TOKEN,
    )
    with TestClient(create_app(settings)) as client:
        yield App(client, knowledge)


@pytest.fixture
def app(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[App]:
    yield from start(tmp_path, watch=False)


@pytest.fixture
def watched_app(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[App]:
    yield from start(tmp_path, watch=True)


def test_reload_after_a_valid_edit_changes_the_answer_and_the_version(app: App) -> None:
    before = app.ask()
    entry = before["entry_id"]
    assert entry, "the question is answered from a knowledge entry"
    old_version = before["knowledge_version"]
    assert old_version == app.ready_version()
    assert MARKER not in before["text"]
    assert app.ask(NEW_VARIANT)["entry_id"] != entry

    app.edit_entry(entry, append_answer=MARKER, add_question=NEW_VARIANT)
    status, result = app.reload()

    assert status == 200
    assert result["ok"] is True and result["changed"] is True
    new_version = result["version"]
    assert new_version != old_version
    assert app.ready_version() == new_version
    after = app.ask()
    assert after["knowledge_version"] == new_version
    assert MARKER in after["text"]
    # The added wording now finds the entry.
    variant = app.ask(NEW_VARIANT)
    assert variant["entry_id"] == entry and variant["knowledge_version"] == new_version


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        pytest.param("    bad: a: b", "YAML error", id="yaml-syntax"),
        pytest.param('    colour: "แดง"', "colour", id="unknown-field"),
    ],
)
def test_an_invalid_edit_is_rejected_with_file_and_line_and_the_old_version_keeps_answering(
    app: App, bad_line: str, reason: str
) -> None:
    before = app.ask()
    old_version = before["knowledge_version"]
    path, line = app.insert_after_id(before["entry_id"], bad_line)

    status, result = app.reload()

    assert status == 422
    assert result["ok"] is False
    assert result["version"] == old_version
    label = f"knowledge/{path.name}"
    first = next(p for p in result["problems"] if p["file"] == label)
    assert first["line"] == line, result["problems"]
    assert reason in first["message"]
    # Still answering, from the version that was good.
    assert app.ready_version() == old_version
    after = app.ask()
    assert after["knowledge_version"] == old_version
    assert after["entry_id"] == before["entry_id"] and after["text"] == before["text"]

    # Fixing the file is enough: the next reload succeeds.
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    del lines[line - 1]
    path.write_text("".join(lines), encoding="utf-8")
    status, result = app.reload()
    assert status == 200
    assert result == {"ok": True, "version": old_version, "changed": False}  # the same content as answering


def test_the_file_watcher_reloads_an_edit_without_a_reload_call(watched_app: App) -> None:
    before = watched_app.ask()
    old_version = before["knowledge_version"]
    entry_file = watched_app.entry_file(before["entry_id"])
    watched_app.edit_entry(before["entry_id"], append_answer=MARKER)
    edited = entry_file.read_bytes()

    started = time.monotonic()
    rewritten = False
    while watched_app.ready_version() == old_version:
        waited = time.monotonic() - started
        assert waited < WATCH_TIMEOUT, f"the watcher did not reload within {WATCH_TIMEOUT}s"
        if not rewritten and waited > REWRITE_AFTER:
            # The watcher task starts just after start-up; in case the edit beat it, save the file once more.
            entry_file.write_bytes(edited)
            rewritten = True
        time.sleep(0.1)

    after = watched_app.ask()
    assert after["knowledge_version"] == watched_app.ready_version() != old_version
    assert MARKER in after["text"]


def test_the_watcher_only_reacts_to_yaml_files() -> None:
    assert is_knowledge_file(Change.modified, "/srv/knowledge/faq_plan.yaml")
    assert is_knowledge_file(Change.added, "/srv/knowledge/sub/extra.yaml")
    editor_files = (".faq_plan.yaml.swp", "faq_plan.yaml~", "4913", "#faq_plan.yaml#", ".faq_plan.yaml", "x.yml.tmp")
    for editor_file in editor_files:
        assert not is_knowledge_file(Change.modified, f"/srv/knowledge/{editor_file}"), editor_file
