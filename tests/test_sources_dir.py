"""BUDGETBOT_SOURCES_DIR: a cited document missing from the sources folder is an error for `budgetbot kb check`
(also with --sources-dir), for a reload (422, the old version keeps answering) and at start-up alike."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.support.notify import YEAR, admin, knowledge_copy, notify_env, server
from tests.support.server import REPO


def _kb_check(kb_dir: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "kb", "check", str(kb_dir), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )


def test_a_window_citing_a_missing_document_is_refused_everywhere(tmp_path: Path) -> None:
    kb = knowledge_copy(tmp_path)
    kb.add_window(YEAR, date(2026, 12, 1), date(2027, 1, 15), name="call")
    assert _kb_check(kb.knowledge, "--sources-dir", str(kb.sources)).returncode == 0
    home = tmp_path / "home"
    env = notify_env(home, kb, None, None)
    with server(env, home) as s:
        version = httpx.get(f"{s.base_url}/readyz", timeout=10).json()["knowledge"]["version"]
        (kb.sources / f"dga-call-fy{YEAR}.txt").unlink()  # the file DGA staff forgot to copy
        (kb.knowledge / "sources.yaml").write_text(
            (kb.knowledge / "sources.yaml").read_text(encoding="utf-8") + "\n", encoding="utf-8"
        )
        refused = admin(s, "POST", "/reload")
        assert refused.status_code == 422
        body = refused.json()
        assert body["version"] == version, "the last good version keeps answering"
        assert any(f"dga-call-fy{YEAR}.txt" in p["message"] for p in body["problems"])
    checked = _kb_check(kb.knowledge, "--sources-dir", str(kb.sources))
    assert checked.returncode != 0 and f"dga-call-fy{YEAR}.txt" in checked.stdout + checked.stderr
    with pytest.raises(RuntimeError, match=f"dga-call-fy{YEAR}.txt"):  # start-up: no last good version to keep
        with server(env, tmp_path / "again"):
            pass
