"""Alembic environment: runs on the connection `Database.migrate()` hands over (no alembic.ini needed).

`Database.migrate()` opens the connection, takes the cross-process migration lock and begins the transaction;
this file only points alembic at that connection and at the models' metadata.
To write a new revision, autogenerate it against a scratch SQLite at head, then review it by hand:
    from alembic import command
    from bot.storage.database import Database, alembic_config
    db = Database("sqlite:////tmp/scratch.sqlite3"); db.migrate()
    command.revision(alembic_config(db.url), message="what changed", autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection or sqlalchemy.url given to the migrations")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
