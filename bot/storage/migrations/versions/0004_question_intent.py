"""The question log records the rule of the understanding table that answered each question (Answer.intent).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("question_log", sa.Column("intent", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("question_log", "intent")
