"""A fresh PostgreSQL database of a test's own, dropped afterwards (the `postgres_url` fixture, and scripts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url


@contextmanager
def fresh_database(admin: Engine, prefix: str = "test") -> Iterator[str]:
    """URL of a new, empty database on the server `admin` (an AUTOCOMMIT engine) connects to."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # FORCE: a test that failed half-way may leave connections open.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
