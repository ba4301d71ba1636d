"""Platforms fetched daily (issue 15, likes and followers).

- `platform_snapshots`: one reading per platform connection and day (running totals; the
  newest keeps its per-video like counts), from which the report's daily likes are derived.
- `connections`: `next_poll_at` (indexed: the poller's due list and lease), `last_polled_at`,
  `poll_failures`.
- `connection_events.outcome` may be `fetched` (a daily fetch that stored its numbers).

Revision ID: 2026_12_06_0015
Revises: 2026_12_06_0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_12_06_0015"
down_revision: str | None = "2026_12_06_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES_BEFORE = "'customer', 'unmatched', 'ignored', 'failed'"
OUTCOMES_AFTER = "'customer', 'unmatched', 'ignored', 'failed', 'fetched'"


def upgrade() -> None:
    op.create_table(
        "platform_snapshots",
        sa.Column("id", IdType, nullable=False),
        sa.Column("connection_id", IdType, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("likes_total", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("likes_gained", sa.BigInteger(), nullable=True),
        sa.Column("gap_days", sa.Integer(), nullable=True),
        sa.Column("likes_by_item", sa.JSON(), nullable=True),
        sa.Column("baseline_by_item", sa.JSON(), nullable=True),
        sa.Column("read_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_snapshots")),
        sa.UniqueConstraint(
            "connection_id", "day", name=op.f("uq_platform_snapshots_connection_id_day")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_platform_snapshots_connection_id_connections"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("next_poll_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("last_polled_at", UTCDateTime, nullable=True))
        batch.add_column(
            sa.Column("poll_failures", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index(op.f("ix_connections_next_poll_at"), "connections", ["next_poll_at"])
    with op.batch_alter_table("connection_events") as batch:
        batch.drop_constraint(op.f("ck_connection_events_outcome"), type_="check")
        batch.create_check_constraint(
            op.f("ck_connection_events_outcome"), f"outcome IN ({OUTCOMES_AFTER})"
        )


def downgrade() -> None:
    op.execute("DELETE FROM connection_events WHERE outcome = 'fetched'")
    with op.batch_alter_table("connection_events") as batch:
        batch.drop_constraint(op.f("ck_connection_events_outcome"), type_="check")
        batch.create_check_constraint(
            op.f("ck_connection_events_outcome"), f"outcome IN ({OUTCOMES_BEFORE})"
        )
    op.drop_index(op.f("ix_connections_next_poll_at"), table_name="connections")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("poll_failures")
        batch.drop_column("last_polled_at")
        batch.drop_column("next_poll_at")
    op.drop_table("platform_snapshots")
