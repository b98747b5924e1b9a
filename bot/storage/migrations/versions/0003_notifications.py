"""Notifications (issue 11): subscriptions, notifications and their batches, the windows notified; the inbox
keeps an event's action (subscribe, unsubscribe, forget).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pipeline_inbox", sa.Column("action", sa.String(), nullable=True))
    op.create_table(
        "subscriptions",
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("user_key", sa.String(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("told_opens", sa.String(), nullable=True),
        sa.Column("told_closes", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("channel", "user_key", "fiscal_year", name="pk_subscriptions"),
    )
    op.create_index("ix_subscriptions_fiscal_year", "subscriptions", ["fiscal_year"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("line_recipients", sa.Integer(), nullable=False),
        sa.Column("telegram_recipients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])
    op.create_table(
        "notification_batches",
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("notification_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("ref", name="pk_notification_batches"),
    )
    op.create_index("ix_notification_batches_notification_id", "notification_batches", ["notification_id"])
    op.create_table(
        "notified_windows",
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("opens", sa.String(), nullable=False),
        sa.Column("closes", sa.String(), nullable=False),
        sa.Column("day", sa.String(), nullable=False),
        sa.Column("notification_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("fiscal_year", name="pk_notified_windows"),
    )


def downgrade() -> None:
    op.drop_table("notified_windows")
    op.drop_index("ix_notification_batches_notification_id", table_name="notification_batches")
    op.drop_table("notification_batches")
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_subscriptions_fiscal_year", table_name="subscriptions")
    op.drop_table("subscriptions")
    with op.batch_alter_table("pipeline_inbox") as batch:
        batch.drop_column("action")
