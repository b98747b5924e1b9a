"""Back up and restore the assistant's database: what `deploy/backup` and `deploy/restore` run.

The database is the one the server uses, found from the same settings (bot/settings.py): BUDGETBOT_DATABASE_URL,
else the SQLite file in BUDGETBOT_DATA_DIR, from the environment, a .env file in the working directory, or the
file given with --env-file (the server's /etc/budgetbot/budgetbot.env).

- SQLite: a consistent copy taken with SQLite's online backup API while the server keeps running (a file copy
  of a live WAL database can miss committed data or be torn); restored the same way, page by page under
  SQLite's own locking. A backup is one self-contained `.sqlite3` file.
- PostgreSQL: `pg_dump --format=custom` (a `.pgdump` file), restored with `pg_restore --clean` in a single
  transaction, so a failed restore leaves the database as it was.

Backups are written to a temporary name, checked (SQLite integrity check, `pg_restore --list`) and only then
renamed into place, so a backup file that exists is complete.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import URL, make_url

from bot.settings import Settings
from bot.storage import normalize_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
SUFFIX = {"sqlite": ".sqlite3", "postgresql": ".pgdump"}
# Only files named like this are ever pruned by --keep: budgetbot-20261121T023000.123456Z.sqlite3 (the time in UTC,
# to the microsecond, so names sort by time whatever the second), or an older release's ...T023000Z[-N]....
BACKUP_NAME = re.compile(r"^budgetbot-(\d{8}T\d{6})(\.\d{6})?Z(?:-(\d+))?\.(sqlite3|pgdump)$")
BUSY_TIMEOUT_S = 30.0


class BackupError(Exception):
    """A problem the operator must fix, said in one line (no traceback)."""


@dataclass(frozen=True)
class Target:
    """The server's database: a SQLite file, or a PostgreSQL URL."""

    backend: str  # "sqlite" or "postgresql"
    sqlite_path: Path | None
    url: URL | None

    def describe(self) -> str:
        if self.sqlite_path is not None:
            return f"SQLite {self.sqlite_path}"
        assert self.url is not None
        return f"PostgreSQL {self.url.render_as_string(hide_password=True)}"


def server_database(env_file: Path | None) -> Target:
    """The database the server would open with these settings."""
    if env_file is not None and not env_file.is_file():
        raise BackupError(f"no such settings file: {env_file}")
    try:
        settings = Settings(_env_file=env_file) if env_file is not None else Settings()  # type: ignore[call-arg]
    except ValidationError as exc:  # the server would not start with these either: say which, in one line
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise BackupError(f"invalid settings: {problems}") from None
    url = make_url(normalize_url(settings.effective_database_url))
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database:
            raise BackupError("the SQLite database URL names no file")
        return Target("sqlite", Path(url.database), None)
    if backend == "postgresql":
        return Target("postgresql", None, url)
    raise BackupError(f"unsupported database {url.drivername!r}: only SQLite and PostgreSQL are backed up")


# --- backup --------------------------------------------------------------------------------------------


def backup(target: Target, destination: Path, *, keep: int | None = None) -> Path:
    """Write a new backup of `target` into the directory `destination`; returns its path."""
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = _new_backup_path(destination, SUFFIX[target.backend])
    partial = final.with_name(f".{final.name}.partial")
    try:
        if target.sqlite_path is not None:
            _backup_sqlite(target.sqlite_path, partial)
        else:
            assert target.url is not None
            _backup_postgres(target.url, partial)
        _fsync(partial)
        os.replace(partial, final)
        _fsync(destination)
    finally:
        partial.unlink(missing_ok=True)
    if keep is not None:
        _prune(destination, final.suffix, keep, newest=final)
    return final.resolve()


def _new_backup_path(directory: Path, suffix: str) -> Path:
    while True:  # to the microsecond: a name already taken is only a backup made the same microsecond
        path = directory / f"budgetbot-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')}{suffix}"
        if not path.exists():  # never overwrite a backup
            return path


def _sort_key(path: Path) -> tuple[str, str, int]:
    """Time order of backup names: the second, then its fraction, then an older release's -N suffix."""
    m = BACKUP_NAME.match(path.name)
    assert m is not None, path
    return m.group(1), m.group(2) or "", int(m.group(3) or 1)


def _backup_sqlite(source: Path, out: Path) -> None:
    if not source.is_file():
        # Never back up (and so create) an empty database: the settings point elsewhere than the server's.
        raise BackupError(f"no SQLite database at {source}: is BUDGETBOT_DATA_DIR the server's?")
    src = _open_sqlite(source)
    dst = sqlite3.connect(out)
    try:
        # One consistent snapshot of everything committed, the WAL included; the server goes on writing.
        src.backup(dst)
        # A self-contained file: no -wal beside it when it is opened later.
        dst.execute("PRAGMA journal_mode = DELETE")
        _check_sqlite(dst, out)
    finally:
        dst.close()
        src.close()
    out.chmod(0o600)


def _backup_postgres(url: URL, out: Path) -> None:
    conninfo, env = _libpq(url)
    _run([_tool("pg_dump"), "--format=custom", "--no-password", f"--file={out}", f"--dbname={conninfo}"], env)
    out.chmod(0o600)
    _run([_tool("pg_restore"), "--list", str(out)], env, quiet=True)  # the dump reads back


def _prune(directory: Path, suffix: str, keep: int, *, newest: Path) -> None:
    """Delete all but the newest `keep` backups of this kind, in time order; the one just made is never deleted."""
    ours = sorted((p for p in directory.iterdir() if BACKUP_NAME.match(p.name) and p.suffix == suffix), key=_sort_key)
    for old in [p for p in ours if p != newest][: max(len(ours) - keep, 0)]:
        old.unlink(missing_ok=True)  # another run may have pruned it already
        print(f"removed old backup {old}", file=sys.stderr)


# --- restore -------------------------------------------------------------------------------------------


def backup_kind(path: Path) -> str:
    """ "sqlite" or "postgresql", from the file's first bytes (never from its name)."""
    if not path.is_file():
        raise BackupError(f"no such backup file: {path}")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither a SQLite backup nor a pg_dump archive")


def restore(target: Target, backup_file: Path) -> None:
    """Replace the data in `target` with the backup's."""
    kind = backup_kind(backup_file)
    if kind != target.backend:
        raise BackupError(f"{backup_file} is a {kind} backup, but the server's database is {target.describe()}")
    if target.sqlite_path is not None:
        _restore_sqlite(backup_file, target.sqlite_path)
    else:
        assert target.url is not None
        _restore_postgres(backup_file, target.url)


def _restore_sqlite(backup_file: Path, database: Path) -> None:
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        _check_sqlite(src, backup_file)
        tables = {row[0] for row in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in tables:
            raise BackupError(f"{backup_file} is a SQLite database, but not the assistant's")
        database.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(database, timeout=BUSY_TIMEOUT_S)
        try:
            # Under SQLite's locking, as one write: a server still running sees the old data or the new.
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _restore_postgres(backup_file: Path, url: URL) -> None:
    conninfo, env = _libpq(url)
    _run(
        [
            _tool("pg_restore"),
            "--clean",  # drop each table in the archive first, so rows added since the backup go
            "--if-exists",
            "--no-owner",  # objects belong to the server's own user, whoever made the dump
            "--no-privileges",
            "--single-transaction",  # all or nothing
            "--exit-on-error",
            "--no-password",
            f"--dbname={conninfo}",
            str(backup_file),
        ],
        env,
    )


# A server renews its row in pipeline_instances every second; one renewed this recently is running.
RUNNING_WITHIN_S = 15.0


def running_servers(target: Target) -> int:
    """How many server processes are running on this database now (by their heartbeats, on the database's own
    clock, so a server on another host counts too); 0 when the database or its table is not there yet."""
    if target.sqlite_path is not None:
        if not target.sqlite_path.is_file():
            return 0
        connection = _open_sqlite(target.sqlite_path)
        try:
            row = connection.execute(
                "SELECT count(*) FROM pipeline_instances "
                "WHERE heartbeat_at > (julianday('now') - 2440587.5) * 86400.0 - ?",
                (RUNNING_WITHIN_S,),
            ).fetchone()
        except sqlite3.OperationalError:  # no such table: a database no server has run on
            return 0
        finally:
            connection.close()
        return int(row[0])
    assert target.url is not None
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ProgrammingError

    engine = create_engine(normalize_url(target.url.render_as_string(hide_password=False)))
    try:
        with engine.connect() as connection:
            try:
                return int(
                    connection.execute(
                        text(
                            "SELECT count(*) FROM pipeline_instances "
                            "WHERE heartbeat_at > EXTRACT(EPOCH FROM clock_timestamp())::float8 - :within"
                        ),
                        {"within": RUNNING_WITHIN_S},
                    ).scalar_one()
                )
            except ProgrammingError:  # no such table
                return 0
    except Exception as exc:  # noqa: BLE001 - cannot even connect: the restore would fail the same way
        raise BackupError(f"cannot reach {target.describe()}: {type(exc).__name__}: {exc}") from None
    finally:
        engine.dispose()


# --- helpers -------------------------------------------------------------------------------------------


def _open_sqlite(path: Path) -> sqlite3.Connection:
    # mode=rw: an existing file only (never create one); the timeout rides out the server's short writes.
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)


def _check_sqlite(connection: sqlite3.Connection, path: Path) -> None:
    result = connection.execute("PRAGMA integrity_check").fetchone()
    if result is None or result[0] != "ok":
        raise BackupError(f"{path} failed SQLite's integrity check: {result}")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and an environment carrying it (never on a command line,
    where any user on the host could read it)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    conninfo = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return conninfo, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install Debian's postgresql-client")
    return found


def _run(command: list[str], env: dict[str, str], *, quiet: bool = False) -> None:
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.PIPE)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise BackupError(f"{Path(command[0]).name} failed (exit {result.returncode}): {detail}")
    if result.stderr and not quiet:
        sys.stderr.buffer.write(result.stderr)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- command line --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="database_backup", description=__doc__.split("\n\n")[0])
    settings = argparse.ArgumentParser(add_help=False)
    settings.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help="read the settings from this file, as the server does (e.g. /etc/budgetbot/budgetbot.env)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser(
        "backup", prog="deploy/backup", parents=[settings], help="write a new backup into DIRECTORY and print its path"
    )
    b.add_argument("directory", type=Path)
    b.add_argument("--keep", type=int, default=None, metavar="N", help="then delete all but the newest N backups")
    r = sub.add_parser(
        "restore", prog="deploy/restore", parents=[settings], help="replace the database's data with a backup's"
    )
    r.add_argument("backup", type=Path)
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    r.add_argument(
        "--force", action="store_true", help="restore even while a server is running on the database (not advised)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        target = server_database(args.env_file)
        if args.command == "backup":
            if args.keep is not None and args.keep < 1:
                raise BackupError("--keep must be at least 1")
            path = backup(target, args.directory, keep=args.keep)
            print(f"backed up {target.describe()} to {path} ({path.stat().st_size:,} bytes)", file=sys.stderr)
            print(path)
            return 0
        kind = backup_kind(args.backup)  # a bad file is refused before anyone is asked anything
        running = running_servers(target)
        if running and not args.force:
            raise BackupError(
                f"{running} server process(es) running on {target.describe()}: stop them first "
                "(systemctl stop budgetbot, on every host that uses this database), or restore under them "
                "with --force"
            )
        if not args.yes and not _confirmed(target, args.backup):
            return 2
        restore(target, args.backup)
        print(f"restored {target.describe()} from {args.backup} ({kind})", file=sys.stderr)
        return 0
    except BackupError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1


def _confirmed(target: Target, backup_file: Path) -> bool:
    if not sys.stdin.isatty():
        print("restore replaces the current data: run it with --yes to confirm", file=sys.stderr)
        return False
    answer = input(f"Replace all data in {target.describe()} with {backup_file}? Type 'yes': ")
    return answer.strip().lower() == "yes"


if __name__ == "__main__":
    sys.exit(main())
