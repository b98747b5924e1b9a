"""Migration scripts, one per schema version (alembic ignores this file)."""
