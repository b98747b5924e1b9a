"""Shared fixtures.

Database fixtures: `database_url` runs a test on SQLite and on PostgreSQL. PostgreSQL comes from
BUDGETBOT_TEST_POSTGRES_URL (start one with `bash scripts/postgres`, which prints the URL); each test gets a
database of its own, dropped afterwards. Without that variable the PostgreSQL cases are skipped locally and
fail under CI=true, where they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from bot.storage import Database, normalize_url
from tests.support.databases import fresh_database
from tests.support.env import TEST_SALT

POSTGRES_URL_ENV = "BUDGETBOT_TEST_POSTGRES_URL"
# The server refuses to start a chat channel without a secret salt (PDPA): tests get one of their own, except
# the test of that refusal, which removes it.
os.environ.setdefault("BUDGETBOT_USER_HASH_SALT", TEST_SALT)

DATABASE_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def postgres_admin_engine() -> Iterator[Engine]:
    """A connection to the test server's maintenance database, for creating and dropping test databases."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        message = f"{POSTGRES_URL_ENV} is not set (run `bash scripts/postgres` and export the URL it prints)"
        if _in_ci():
            pytest.fail(f"CI must run the PostgreSQL tests: {message}", pytrace=False)
        pytest.skip(message)
    engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - a set but dead URL is a broken test set-up, never a skip
        pytest.fail(f"{POSTGRES_URL_ENV} is set but the server does not answer: {exc}", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin_engine: Engine) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with fresh_database(postgres_admin_engine) as url:
        yield url


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, on SQLite (a file in tmp_path) and on PostgreSQL (a fresh database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/data/budgetbot.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """`database_url` opened and migrated to the newest schema."""
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()
