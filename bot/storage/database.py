"""The database: engine, migrations at start-up, health check, clean-up.

SQLite (a file under BUDGETBOT_DATA_DIR) by default, PostgreSQL when BUDGETBOT_DATABASE_URL names one. The engine
is synchronous; the async stores (bot/storage/stores.py) run their calls in a thread, which is plenty for a
chat bot's load. When the database is unavailable every call raises: the service degrades, it does not crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url

from bot.settings import Settings
from bot.workers import STORAGE

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
PG_CONNECT_TIMEOUT_S = 5
# Any fixed 64-bit number: every instance migrating the same PostgreSQL database takes this lock first.
_PG_MIGRATION_LOCK = 0x6275_6467_6574_626F  # "budgetbo"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# The newest migration in migrations/versions (a test checks they agree). A database already there needs no
# alembic at all, which keeps its import (a quarter of a second) out of a normal start-up.
HEAD_REVISION = "0004"


def normalize_url(url: str) -> str:
    """`postgres://` and `postgresql://` (as hosting providers hand them out) use the installed psycopg 3 driver."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the packaged migrations (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@dataclass(frozen=True)
class PurgeResult:
    events: int
    conversations: int
    questions: int


class Database:
    """One engine and the operations on the whole database; the stores hold the per-table logic."""

    def __init__(self, url: str) -> None:
        self.migrated = False  # set once the schema is at head (see migrate)
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.backend = parsed.get_backend_name()
        if self.backend not in SUPPORTED_BACKENDS:
            raise ValueError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")
        self.sqlite_path: Path | None = None
        if self.backend == "sqlite":
            self.engine = self._sqlite_engine(parsed)
        else:
            self.engine = self._postgres_engine(parsed)

    # --- engines -----------------------------------------------------------------------------------------

    def _sqlite_engine(self, url: URL) -> Engine:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            # An in-memory database lives in one connection, which threads and processes cannot share.
            raise ValueError("SQLite needs a file path (sqlite:///path/to/budgetbot.sqlite3)")
        self.sqlite_path = Path(database)
        self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)  # first start: create the data dir
        engine = create_engine(
            url,
            # Threads share the pool (asyncio.to_thread); SQLite's own locking makes that safe.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                # Busy timeout first: switching to WAL itself needs a lock another process may hold.
                cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                # WAL: readers never block the writer, so two processes can share the file.
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, much faster
            finally:
                cursor.close()

        return engine

    @staticmethod
    def _postgres_engine(url: URL) -> Engine:
        connect_args: dict[str, Any] = {"application_name": "budgetbot"}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        # pre_ping: after a database restart, stale pooled connections are replaced instead of failing a request.
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=connect_args)

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    # --- schema ------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """`alembic upgrade head`, safe when several instances start at once on the same database."""
        if self._at_head():
            self.migrated = True
            log.info("database ready", extra={"database": self.safe_url, "revision": HEAD_REVISION})
            return
        from alembic import command

        cfg = alembic_config(self.url)
        with self._sqlite_migration_lock(), self.engine.begin() as connection:
            if self.backend == "postgresql":
                # Transaction-scoped: released at commit, when the schema is complete. A second instance
                # waits here, then finds the schema at head and does nothing.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        self.migrated = True
        log.info("database ready", extra={"database": self.safe_url, "revision": self.current_revision()})

    @contextmanager
    def _sqlite_migration_lock(self) -> Iterator[None]:
        """SQLite DDL is not transactional through pysqlite: serialize migrations with a lock file beside it."""
        if self.sqlite_path is None:
            yield
            return
        import fcntl  # POSIX only, like the deployment

        lock_path = self.sqlite_path.with_name(self.sqlite_path.name + ".migrate.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _at_head(self) -> bool:
        """True when the version table already says HEAD_REVISION. Alembic writes that row last (in the same
        transaction on PostgreSQL), so it implies a complete schema; any doubt, or another instance halfway
        through its migration, means "no": the locked alembic path then sorts it out."""
        try:
            return self._stored_revision() == HEAD_REVISION
        except Exception:  # noqa: BLE001
            return False

    def _stored_revision(self) -> str | None:
        """The revision recorded in alembic's version table, read without alembic; None on a fresh database."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()

    # --- operations --------------------------------------------------------------------------------------

    def ping(self) -> bool:
        """True when the database answers (for /readyz); never raises. Blocking: call it in a thread."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            log.warning("database ping failed", exc_info=True, extra={"database": self.safe_url})
            return False

    def purge(self, settings: Settings, *, now: datetime | None = None) -> PurgeResult:
        """Delete expired events and conversations and questions older than the retention period."""
        from bot.storage.stores import SqlConversationStore, SqlEventLedger, SqlQuestionLog, event_ttl

        now = now or datetime.now(timezone.utc)
        result = PurgeResult(
            events=SqlEventLedger(self, ttl=event_ttl(settings)).purge_expired(now=now),
            conversations=SqlConversationStore.from_settings(self, settings).purge_expired(now=now),
            questions=SqlQuestionLog.from_settings(self, settings).purge_old(settings.log_retention_days, now=now),
        )
        log.info(
            "database purged",
            extra={"events": result.events, "conversations": result.conversations, "questions": result.questions},
        )
        return result

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The configured database, its schema migrated to the newest version (blocking: run it in a thread)."""
    db = Database(settings.effective_database_url)
    if migrate:
        try:
            db.migrate()
        except Exception:
            db.dispose()
            raise
    return db


async def purge_periodically(db: Database, settings: Settings, interval: timedelta = timedelta(hours=1)) -> None:
    """Run `purge` now and then every `interval` until cancelled (start it as a task in the app's lifespan)."""
    while True:
        try:
            await STORAGE.run(db.purge, settings)
        except Exception:  # noqa: BLE001 - the database may be down for a while; try again next time
            log.warning("database purge failed", exc_info=True)
        await asyncio.sleep(interval.total_seconds())
