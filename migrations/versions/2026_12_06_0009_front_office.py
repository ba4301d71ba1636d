"""The front office: owners limited to handles, newsletter consent on leads, per-page emails.

- `users.role` (`admin` sees everything and manages accounts; `owner` sees only the handles in
  `user_handles`). Accounts made before this revision had full access, so they become admins.
- `leads.newsletter_consent` and `leads.consent_version`: whether the person ticked the box at
  their latest opt-in, and the consent text version they saw, copied from the ledger.
- `pages.confirm_subject`, `confirm_text`, `gift_subject`, `gift_text` (empty: the built-in
  wording) and `thank_you_url` (an external https address shown after the opt-in).

Revision ID: 2026_12_06_0009
Revises: 2026_11_22_0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType

revision: str = "2026_12_06_0009"
down_revision: str | None = "2026_11_22_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", sa.String(8), nullable=False, server_default="admin"))
        batch.create_check_constraint("role", "role IN ('admin', 'owner')")
    op.create_table(
        "user_handles",
        sa.Column("user_id", IdType, nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_handles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_user_handles_handle_id_handles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "handle_id", name=op.f("pk_user_handles")),
    )
    # Plain ADD COLUMN, not a batch: on SQLite a batch rebuilds the table and would drop the
    # report triggers on `leads`.
    op.add_column(
        "leads",
        sa.Column("newsletter_consent", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("leads", sa.Column("consent_version", sa.Integer(), nullable=True))
    # The latest opt-in of each lead decides, as it will for new opt-ins.
    op.execute(
        "UPDATE leads SET "
        "newsletter_consent = COALESCE((SELECT event.checkbox FROM consent_events AS event "
        "WHERE event.lead_id = leads.id AND event.kind = 'opt_in' "
        "ORDER BY event.created_at DESC, event.id DESC LIMIT 1), false), "
        "consent_version = (SELECT event.consent_version FROM consent_events AS event "
        "WHERE event.lead_id = leads.id AND event.kind = 'opt_in' "
        "ORDER BY event.created_at DESC, event.id DESC LIMIT 1)"
    )
    for column in ("confirm_subject", "gift_subject"):
        op.add_column("pages", sa.Column(column, sa.String(200), nullable=False, server_default=""))
    for column in ("confirm_text", "gift_text"):
        op.add_column("pages", sa.Column(column, sa.Text(), nullable=False, server_default=""))
    op.add_column("pages", sa.Column("thank_you_url", sa.String(2048), nullable=True))


def downgrade() -> None:
    for column in ("thank_you_url", "gift_text", "confirm_text", "gift_subject", "confirm_subject"):
        op.drop_column("pages", column)
    op.drop_column("leads", "consent_version")
    op.drop_column("leads", "newsletter_consent")
    op.drop_table("user_handles")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("role", type_="check")
        batch.drop_column("role")
