"""Uploaded files in the database: every replica serves them, every backup holds them.

- `stored_files`: one row per uploaded gift file or hero image (its random name, kind, type,
  size, SHA-256 and chunk size).
- `stored_file_chunks`: its bytes in chunks of `chunk_size` (256 KiB), so that a download reads
  one chunk at a time. On PostgreSQL the chunks are stored uncompressed out of line (`STORAGE
  EXTERNAL`): the files are PDFs, archives, images and media that are compressed already, and
  trying again costs CPU on every write and read.

Files uploaded before this revision stay under `DATA_DIR/gifts` and `DATA_DIR/media`; they are
served from there until `leadlink migrate` copies them in (docs/pages.md, Files).

Revision ID: 2026_12_06_0011
Revises: 2026_12_06_0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "2026_12_06_0011"
down_revision: str | None = "2026_12_06_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('gift', 'image')", name=op.f("ck_stored_files_kind")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stored_files")),
    )
    op.create_table(
        "stored_file_chunks",
        sa.Column("file_name", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_name"],
            ["stored_files.name"],
            name=op.f("fk_stored_file_chunks_file_name_stored_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_name", "seq", name=op.f("pk_stored_file_chunks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE stored_file_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("stored_file_chunks")
    op.drop_table("stored_files")
