"""The real app in-process (TestClient runs its lifespan), isolated from the developer's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.settings import DEFAULT_KNOWLEDGE_DIR, Settings
from handlers.app import create_app


@contextmanager
def app_client(tmp: Path, **overrides: Any) -> Iterator[TestClient]:
    """No channel credentials from the shell or a .env file; a fresh data dir; today fixed to 2026-11-21."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("LINE_", "TELEGRAM_", "BUDGETBOT_")) and not name.startswith("BUDGETBOT_TEST_"):
                mp.delenv(name)
        mp.chdir(tmp)
        values: dict[str, Any] = {
            "knowledge_dir": DEFAULT_KNOWLEDGE_DIR,
            "data_dir": tmp / "data",
            "today": date(2026, 11, 21),
            "watch_knowledge": False,
        }
        values.update(overrides)
        with TestClient(create_app(Settings(_env_file=None, **values))) as client:
            yield client
