"""The message pipeline: instances, lanes, inbox, outbox; Telegram suggestion callbacks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pipeline_instances",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_instances"),
    )
    op.create_table(
        "pipeline_lanes",
        sa.Column("lane", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("since", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("lane", name="pk_pipeline_lanes"),
    )
    op.create_index("ix_pipeline_lanes_since", "pipeline_lanes", ["since"])
    op.create_table(
        "pipeline_inbox",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("lane", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("conversation", sa.String(), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("notice", sa.String(), nullable=True),
        sa.Column("handle", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_inbox"),
    )
    op.create_index("ix_pipeline_inbox_lane_id", "pipeline_inbox", ["lane", "id"])
    op.create_table(
        "pipeline_outbox",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("lane", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("handle", sa.Text(), nullable=False),
        sa.Column("parts", sa.Text(), nullable=False),
        sa.Column("parts_done", sa.Integer(), nullable=False),
        sa.Column("retry_key", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("event_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_outbox"),
    )
    op.create_index("ix_pipeline_outbox_lane_id", "pipeline_outbox", ["lane", "id"])
    op.create_table(
        "telegram_callbacks",
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_telegram_callbacks"),
    )
    op.create_index("ix_telegram_callbacks_used_at", "telegram_callbacks", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_telegram_callbacks_used_at", table_name="telegram_callbacks")
    op.drop_table("telegram_callbacks")
    op.drop_index("ix_pipeline_outbox_lane_id", table_name="pipeline_outbox")
    op.drop_table("pipeline_outbox")
    op.drop_index("ix_pipeline_inbox_lane_id", table_name="pipeline_inbox")
    op.drop_table("pipeline_inbox")
    op.drop_index("ix_pipeline_lanes_since", table_name="pipeline_lanes")
    op.drop_table("pipeline_lanes")
    op.drop_table("pipeline_instances")
