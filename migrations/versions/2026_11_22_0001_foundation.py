"""Foundation: handles, pages and API keys.

Revision ID: 2026_11_22_0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_11_22_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "handles",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("name", sa.String(30), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("default_page_id", IdType, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handles")),
        sa.UniqueConstraint("name", name=op.f("uq_handles_name")),
    )
    op.create_table(
        "pages",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("headline", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("slug", name=op.f("uq_pages_slug")),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_pages_handle_id_handles"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'archived')", name=op.f("ck_pages_status")
        ),
    )
    op.create_index(op.f("ix_pages_handle_id"), "pages", ["handle_id"])
    with op.batch_alter_table("handles") as batch:
        batch.create_foreign_key(
            op.f("fk_handles_default_page_id_pages"),
            "pages",
            ["default_page_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "api_keys",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_used_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_table(
        "api_key_handles",
        sa.Column("api_key_id", IdType, nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.PrimaryKeyConstraint("api_key_id", "handle_id", name=op.f("pk_api_key_handles")),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_handles_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_api_key_handles_handle_id_handles"),
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("api_key_handles")
    op.drop_table("api_keys")
    with op.batch_alter_table("handles") as batch:
        batch.drop_constraint(op.f("fk_handles_default_page_id_pages"), type_="foreignkey")
    op.drop_index(op.f("ix_pages_handle_id"), table_name="pages")
    op.drop_table("pages")
    op.drop_table("handles")
