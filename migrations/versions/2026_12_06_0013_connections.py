"""Connections (issue 15's foundation) and the shop's sales.

- `connections`: one account at another service (provider, status, encrypted secrets, the
  unguessable `public_id` of its webhook URL), `connection_handles` the handles it is for.
- `connection_events`: what each connection received, unique per provider event id (replays).
- `sales`: purchases reported by a shop, with the lead they made a customer (or none).

Revision ID: 2026_12_06_0013
Revises: 2026_12_06_0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_12_06_0013"
down_revision: str | None = "2026_12_06_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVIDERS = (
    "'stripe', 'shopify', 'gumroad', 'youtube', 'instagram', 'facebook', 'tiktok', "
    "'mailchimp', 'kit', 'brevo'"
)


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", IdType, nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("secret_hint", sa.String(64), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("last_error_at", UTCDateTime, nullable=True),
        sa.Column("last_event_at", UTCDateTime, nullable=True),
        sa.Column("created_by", IdType, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("public_id", name=op.f("uq_connections_public_id")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_connections_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(f"provider IN ({PROVIDERS})", name=op.f("ck_connections_provider")),
        sa.CheckConstraint(
            "status IN ('active', 'needs_reconnect', 'error', 'disabled')",
            name=op.f("ck_connections_status"),
        ),
    )
    op.create_table(
        "connection_handles",
        sa.Column("connection_id", IdType, nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "handle_id", name=op.f("pk_connection_handles")),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_handles_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_connection_handles_handle_id_handles"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "connection_events",
        sa.Column("id", IdType, nullable=False),
        sa.Column("connection_id", IdType, nullable=False),
        sa.Column("provider_event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("lead_id", IdType, nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_events")),
        sa.UniqueConstraint(
            "connection_id",
            "provider_event_id",
            name=op.f("uq_connection_events_connection_id_provider_event_id"),
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_events_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "outcome IN ('customer', 'unmatched', 'ignored', 'failed')",
            name=op.f("ck_connection_events_outcome"),
        ),
    )
    op.create_index(
        "ix_connection_events_connection_id_id", "connection_events", ["connection_id", "id"]
    )
    op.create_index(op.f("ix_connection_events_lead_id"), "connection_events", ["lead_id"])
    op.create_table(
        "sales",
        sa.Column("id", IdType, nullable=False),
        sa.Column("connection_id", IdType, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("provider_event_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("lead_id", IdType, nullable=True),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales")),
        sa.UniqueConstraint(
            "connection_id",
            "provider_event_id",
            name=op.f("uq_sales_connection_id_provider_event_id"),
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sales_connection_id_connections"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_sales_email", "sales", ["email"])
    op.create_index("ix_sales_occurred_at", "sales", ["occurred_at"])
    op.create_index(op.f("ix_sales_lead_id"), "sales", ["lead_id"])


def downgrade() -> None:
    op.drop_table("sales")
    op.drop_table("connection_events")
    op.drop_table("connection_handles")
    op.drop_table("connections")
