"""The benchmarks the README lists run through scripts/bench, which installs what they need first (the issue saw
"No module named 'pytest'" after scripts/run, which installs the service alone)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LISTED = re.findall(r"^scripts/bench (\w+)", (REPO / "README.md").read_text(encoding="utf-8"), flags=re.MULTILINE)


def test_the_readme_runs_every_benchmark_through_scripts_bench() -> None:
    assert set(LISTED) == {"matching", "webhooks", "review", "notify", "edge", "understanding"}
    assert ".venv/bin/python bench/" not in (REPO / "README.md").read_text(encoding="utf-8")
    script = (REPO / "scripts" / "bench").read_text(encoding="utf-8")
    assert 'ensure_venv "[test]"' in script, "the extras the benchmarks import (tests' fakes need pytest, httpx)"


@pytest.mark.parametrize("name", LISTED)
def test_each_benchmark_starts_through_scripts_bench(name: str) -> None:
    """`--help`: every import at the top of the benchmark (tests.support, the fakes) succeeds."""
    result = subprocess.run(
        ["bash", "scripts/bench", name, "--help"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage" in result.stdout.lower()
