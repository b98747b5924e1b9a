"""The real app in-process (TestClient runs its lifespan), isolated from the developer's environment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.settings import DEFAULT_KNOWLEDGE_DIR, Settings
from handlers.app import create_app
from tests.support.env import clean_bot_env


@contextmanager
def app_client(tmp: Path, **overrides: Any) -> Iterator[TestClient]:
    """No channel credentials from the shell or a .env file; a fresh data dir; today fixed to 2026-11-21."""
    with pytest.MonkeyPatch.context() as mp:
        clean_bot_env(mp)
        mp.chdir(tmp)
        values: dict[str, Any] = {
            "knowledge_dir": DEFAULT_KNOWLEDGE_DIR,
            "data_dir": tmp / "data",
            "today": date(2026, 11, 21),
            "watch_knowledge": False,
            # Tests ask many questions a minute from one client; the limits' own tests set them low.
            "ask_rate_per_client": 1_000_000,
            "ask_rate_per_session": 1_000_000,
        }
        values.update(overrides)
        with TestClient(create_app(Settings(_env_file=None, **values))) as client:
            yield client
