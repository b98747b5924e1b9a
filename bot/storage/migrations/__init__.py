"""Alembic migrations for bot.storage (run by `Database.migrate()`, i.e. `upgrade head` at start-up)."""
