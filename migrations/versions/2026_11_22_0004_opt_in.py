"""Opt-in pages and leads: page content, gift, form and theme columns; leads; consent ledger.

Revision ID: 2026_11_22_0004
Revises: 2026_11_22_0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_11_22_0004"
down_revision: str | None = "2026_11_22_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE_COLUMNS = [
    ("hero_image_url", sa.String(2048), True, None),
    ("gift_kind", sa.String(8), False, "text"),
    ("gift_value", sa.Text(), False, ""),
    ("gift_file_name", sa.String(255), True, None),
    ("gift_title", sa.String(200), False, "Your free gift"),
    ("name_field", sa.String(8), False, "optional"),
    ("custom_fields", sa.JSON(), False, "[]"),
    ("consent_text", sa.Text(), False, ""),
    ("consent_version", sa.Integer(), False, "1"),
    ("double_opt_in", sa.Boolean(), False, sa.true()),
    ("theme", sa.String(16), False, "clean"),
    ("og_title", sa.String(200), True, None),
    ("og_description", sa.String(300), True, None),
    ("og_image_url", sa.String(2048), True, None),
]


def upgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        for name, type_, _nullable, default in PAGE_COLUMNS:
            # Existing rows get the default; the models set values for new rows.
            batch.add_column(sa.Column(name, type_, nullable=True, server_default=default))
    with op.batch_alter_table("pages") as batch:
        for name, type_, nullable, _default in PAGE_COLUMNS:
            batch.alter_column(name, existing_type=type_, nullable=nullable, server_default=None)
        batch.create_check_constraint(
            op.f("ck_pages_gift_kind"), "gift_kind IN ('url', 'file', 'code', 'text')"
        )
        batch.create_check_constraint(
            op.f("ck_pages_name_field"), "name_field IN ('off', 'optional', 'required')"
        )

    op.create_table(
        "leads",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("page_id", IdType, nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("medium", sa.String(100), nullable=True),
        sa.Column("campaign", sa.String(100), nullable=True),
        sa.Column("variant", sa.String(32), nullable=True),
        sa.Column("route_id", IdType, nullable=True),
        sa.Column("visit_ref", sa.String(24), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_at", UTCDateTime, nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime, nullable=True),
        sa.Column("customer_at", UTCDateTime, nullable=True),
        sa.Column("customer_value", sa.Numeric(12, 2), nullable=True),
        sa.Column("customer_currency", sa.String(3), nullable=True),
        sa.Column("confirmation_sent_at", UTCDateTime, nullable=True),
        sa.Column("gift_sent_at", UTCDateTime, nullable=True),
        sa.Column("erased_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("page_id", "email", name=op.f("uq_leads_page_id_email")),
        sa.ForeignKeyConstraint(
            ["page_id"], ["pages.id"], name=op.f("fk_leads_page_id_pages"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_leads_handle_id_handles"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'unsubscribed', 'customer')",
            name=op.f("ck_leads_status"),
        ),
    )
    op.create_index("ix_leads_updated_at_id", "leads", ["updated_at", "id"])
    op.create_index("ix_leads_handle_id_created_at", "leads", ["handle_id", "created_at"])
    op.create_table(
        "consent_events",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("lead_id", IdType, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("consent_version", sa.Integer(), nullable=False),
        sa.Column("checkbox", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_consent_events_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "kind IN ('opt_in', 'confirmed', 'unsubscribed', 'resubscribed')",
            name=op.f("ck_consent_events_kind"),
        ),
    )
    op.create_index(op.f("ix_consent_events_lead_id"), "consent_events", ["lead_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_consent_events_lead_id"), table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_index("ix_leads_handle_id_created_at", table_name="leads")
    op.drop_index("ix_leads_updated_at_id", table_name="leads")
    op.drop_table("leads")
    with op.batch_alter_table("pages") as batch:
        batch.drop_constraint(op.f("ck_pages_name_field"), type_="check")
        batch.drop_constraint(op.f("ck_pages_gift_kind"), type_="check")
        for name, *_ in reversed(PAGE_COLUMNS):
            batch.drop_column(name)
