"""Email tools (issue 15, part 3): confirmed leads sent to Mailchimp, Kit and Brevo.

- `outbox.kind` admits `email_tool` (an add, unsubscribe or erasure at the tool).
- `connection_events.outcome` admits `sent` and `refused` (what the tool did with one lead).
- `email_tool_syncs`: per connection and lead, the latest action queued, a fingerprint of what
  it carried, its state and the tool's id of the person (no address).

SQLite cannot alter a CHECK constraint: both tables are rebuilt (Alembic's batch mode).
Downgrading deletes the email-tool outbox messages and event-log rows first.

Revision ID: 2026_12_06_0016
Revises: 2026_12_06_0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_12_06_0016"
down_revision: str | None = "2026_12_06_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = "'customer', 'unmatched', 'ignored', 'failed', 'fetched'"  # as 2026_12_06_0015 left them


def _checks(kinds: str, outcomes: str) -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", f"kind IN ({kinds})")
    with op.batch_alter_table("connection_events") as batch:
        batch.drop_constraint("outcome", type_="check")
        batch.create_check_constraint("outcome", f"outcome IN ({outcomes})")


def upgrade() -> None:
    _checks("'email', 'webhook', 'email_tool'", f"{OUTCOMES}, 'sent', 'refused'")
    op.create_table(
        "email_tool_syncs",
        sa.Column("id", IdType, nullable=False),
        sa.Column("connection_id", IdType, nullable=False),
        sa.Column("lead_id", IdType, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(100), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("queued_at", UTCDateTime, nullable=False),
        sa.Column("synced_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_tool_syncs")),
        sa.UniqueConstraint(
            "connection_id", "lead_id", name=op.f("uq_email_tool_syncs_connection_id_lead_id")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_email_tool_syncs_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_email_tool_syncs_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "action IN ('subscribe', 'unsubscribe')", name=op.f("ck_email_tool_syncs_action")
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'synced', 'failed')", name=op.f("ck_email_tool_syncs_state")
        ),
    )
    op.create_index(op.f("ix_email_tool_syncs_lead_id"), "email_tool_syncs", ["lead_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_email_tool_syncs_lead_id"), table_name="email_tool_syncs")
    op.drop_table("email_tool_syncs")
    op.execute("DELETE FROM outbox WHERE kind = 'email_tool'")
    op.execute("DELETE FROM connection_events WHERE outcome IN ('sent', 'refused')")
    _checks("'email', 'webhook'", OUTCOMES)
