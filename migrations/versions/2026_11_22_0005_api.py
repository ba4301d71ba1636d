"""The REST API: idempotency keys of writes (the first response, replayed for 24 hours), and
the indexes that keep keyset pages of one handle's leads cheap.

Revision ID: 2026_11_22_0005
Revises: 2026_11_22_0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_11_22_0005"
down_revision: str | None = "2026_11_22_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("api_key_id", IdType, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("lead_id", IdType, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("api_key_id", "key", name=op.f("uq_idempotency_keys_api_key_id_key")),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_idempotency_keys_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_idempotency_keys_api_key_id_created_at",
        "idempotency_keys",
        ["api_key_id", "created_at"],
    )
    op.create_index(op.f("ix_idempotency_keys_lead_id"), "idempotency_keys", ["lead_id"])
    op.create_index("ix_leads_handle_id_id", "leads", ["handle_id", "id"])
    op.create_index("ix_leads_handle_id_updated_at_id", "leads", ["handle_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_leads_handle_id_updated_at_id", table_name="leads")
    op.drop_index("ix_leads_handle_id_id", table_name="leads")
    op.drop_index(op.f("ix_idempotency_keys_lead_id"), table_name="idempotency_keys")
    op.drop_index("ix_idempotency_keys_api_key_id_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
