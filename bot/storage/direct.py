"""Plain DBAPI connections (sqlite3, psycopg) for the hot path: the message pipeline's few statements per event.

Why not SQLAlchemy here: measured per statement, the ORM/Core path costs 0.5-0.7 ms (compiling, result
processing, pool checkout with a ping) against 0.02-0.05 ms for the same statement in plain sqlite3, and the
pipeline runs several per event. The schema is still SQLAlchemy's (bot/storage/models.py, alembic migrations);
only the statements go straight to the driver. Connections are kept in a small pool of their own, used from the
`bot.workers.STORAGE` threads only (never the event loop). A connection that fails is thrown away, so an outage
heals by itself once the database answers again.

Statements are written with `?` placeholders and translated once to psycopg's `%s`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import make_url

from bot.storage.database import PG_CONNECT_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_MS, Database

Params = Sequence[Any]


class Tx:
    """One transaction on one connection: `execute` statements, read rows. Not shared between threads."""

    def __init__(self, cursor: Any, backend: str) -> None:
        self._cursor = cursor
        self.backend = backend

    def execute(self, sql: str, params: Params = ()) -> Tx:
        self._cursor.execute(_translate(sql, self.backend), params)
        return self

    def executemany(self, sql: str, rows: Sequence[Params]) -> Tx:
        if rows:
            self._cursor.executemany(_translate(sql, self.backend), rows)
        return self

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def timestamp(self, value: datetime) -> Any:
        """A datetime as the schema's UtcDateTime columns store it (SQLite: naive UTC text, as SQLAlchemy writes)."""
        value = value.astimezone(timezone.utc)
        if self.backend == "sqlite":
            return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    @property
    def now_sql(self) -> str:
        """An SQL expression for the database's own clock, in epoch seconds: leases are compared on one clock
        even when instances run on several hosts."""
        if self.backend == "sqlite":
            return "((julianday('now') - 2440587.5) * 86400.0)"
        return "EXTRACT(EPOCH FROM clock_timestamp())::float8"

    @property
    def for_update(self) -> str:
        """Lock the rows read until the transaction ends (PostgreSQL; SQLite's one writer needs nothing)."""
        return " FOR UPDATE" if self.backend == "postgresql" else ""

    @property
    def skip_locked(self) -> str:
        """Row locking for a claim: PostgreSQL skips rows another instance is claiming; SQLite has one writer."""
        return " FOR UPDATE SKIP LOCKED" if self.backend == "postgresql" else ""


_TRANSLATED: dict[str, str] = {}


def _translate(sql: str, backend: str) -> str:
    if backend == "sqlite":
        return sql
    out = _TRANSLATED.get(sql)
    if out is None:
        out = _TRANSLATED[sql] = sql.replace("%", "%%").replace("?", "%s")
    return out


class DirectDatabase:
    """Transactions on plain driver connections for the database `db` describes."""

    def __init__(self, db: Database, *, max_idle: int = 4) -> None:
        self.db = db
        self.backend = db.backend
        self.max_idle = max_idle
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        url = make_url(db.url)
        if self.backend == "sqlite":
            assert db.sqlite_path is not None
            self._path = str(db.sqlite_path)
        else:
            self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._connect_timeout = None if "connect_timeout" in url.query else PG_CONNECT_TIMEOUT_S

    def _connect(self) -> Any:
        if self.backend == "sqlite":
            connection = sqlite3.connect(
                self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            return connection
        import psycopg

        kwargs: dict[str, Any] = {"application_name": "budgetbot-pipeline"}
        if self._connect_timeout is not None:
            kwargs["connect_timeout"] = self._connect_timeout
        return psycopg.connect(self._conninfo, **kwargs)

    def _take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(connection)
                return
        connection.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """BEGIN ... COMMIT (ROLLBACK on an error, and the connection is then discarded). Blocking."""
        connection = self._take()
        try:
            cursor = connection.cursor()
            if self.backend == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")  # take the write lock now, not half-way (no upgrade deadlocks)
            yield Tx(cursor, self.backend)
            connection.commit() if self.backend == "postgresql" else cursor.execute("COMMIT")
            cursor.close()
        except BaseException:
            try:
                connection.rollback()
            except Exception:  # noqa: BLE001 - the connection is thrown away anyway
                pass
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                pass
            raise
        self._give_back(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                pass
