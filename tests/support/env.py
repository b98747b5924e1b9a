"""A test's environment, isolated from the developer's shell and .env file."""

from __future__ import annotations

import os

import pytest

# The server refuses to run a chat channel without a secret salt (PDPA); tests use this one.
TEST_SALT = "tests-only-salt-0123456789"


def clean_bot_env(mp: pytest.MonkeyPatch) -> None:
    """Remove every LINE_, TELEGRAM_ and BUDGETBOT_ variable (not BUDGETBOT_TEST_*, which the PostgreSQL
    fixtures read), then set the test salt."""
    for name in list(os.environ):
        if name.startswith(("LINE_", "TELEGRAM_", "BUDGETBOT_")) and not name.startswith("BUDGETBOT_TEST_"):
            mp.delenv(name)
    mp.setenv("BUDGETBOT_USER_HASH_SALT", TEST_SALT)
