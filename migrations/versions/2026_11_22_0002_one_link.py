"""The one link: routes, visits, daily rollups, the unique-visitor ledger and daily salts.

Revision ID: 2026_11_22_0002
Revises: 2026_11_22_0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_11_22_0002"
down_revision: str | None = "2026_11_22_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("variant", sa.String(32), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("page_id", IdType, nullable=True),
        sa.Column("target_url", sa.String(2048), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_routes_handle_id_handles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["page_id"], ["pages.id"], name=op.f("fk_routes_page_id_pages"), ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "(page_id IS NULL) <> (target_url IS NULL)", name=op.f("ck_routes_page_or_url")
        ),
        sa.CheckConstraint("weight >= 0 AND weight <= 10000", name=op.f("ck_routes_weight_range")),
    )
    op.create_index(op.f("ix_routes_handle_id"), "routes", ["handle_id"])
    op.create_table(
        "visits",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("ref", sa.String(24), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("page_id", IdType, nullable=True),
        sa.Column("route_id", IdType, nullable=True),
        sa.Column("variant", sa.String(32), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("medium", sa.String(100), nullable=True),
        sa.Column("campaign", sa.String(100), nullable=True),
        sa.Column("content", sa.String(100), nullable=True),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("raw_source", sa.String(100), nullable=True),
        sa.Column("referrer_host", sa.String(253), nullable=True),
        sa.Column("in_app_browser", sa.String(32), nullable=True),
        sa.Column("agent", sa.String(32), nullable=True),
        sa.Column("device_class", sa.String(8), nullable=False),
        sa.Column("visitor_hash", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("ref", name=op.f("uq_visits_ref")),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_visits_handle_id_handles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["page_id"], ["pages.id"], name=op.f("fk_visits_page_id_pages"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["routes.id"],
            name=op.f("fk_visits_route_id_routes"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("kind IN ('visit', 'preview')", name=op.f("ck_visits_kind")),
    )
    op.create_index("ix_visits_handle_id_day", "visits", ["handle_id", "day"])
    op.create_table(
        "visit_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("page_id", IdType, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("unique_visitors", sa.Integer(), nullable=False),
        sa.Column("previews", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "handle_id", "page_id", "source", name=op.f("pk_visit_rollups")
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_visit_rollups_handle_id_handles"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "visitor_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("page_id", IdType, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("visitor_hash", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "handle_id", "page_id", "source", "visitor_hash", name=op.f("pk_visitor_days")
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_visitor_days_handle_id_handles"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "visitor_salts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_visitor_salts")),
    )


def downgrade() -> None:
    op.drop_table("visitor_salts")
    op.drop_table("visitor_days")
    op.drop_table("visit_rollups")
    op.drop_index("ix_visits_handle_id_day", table_name="visits")
    op.drop_table("visits")
    op.drop_index(op.f("ix_routes_handle_id"), table_name="routes")
    op.drop_table("routes")
