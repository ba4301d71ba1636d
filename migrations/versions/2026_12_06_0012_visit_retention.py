"""Visit retention: daily visits per A/B variant (so no report needs raw visits), the record of
pruning runs, and on PostgreSQL the `visits` table partitioned by month of `day`, so that
pruning a month of raw visits is a `DROP TABLE` (app/links/retention.py).

PostgreSQL: the table is converted in place: the old one is renamed, a partitioned one created
with a partition for every month from the oldest visit to three months ahead plus a DEFAULT
partition (so an insert never fails for want of a partition), the rows moved, the old table
dropped, and the keys, index and foreign keys added afterwards (faster than row by row). A
partitioned table's unique keys must contain the partition key: the primary key becomes
(id, day) and `ref` is unique with `day`. Nothing references `visits` by a foreign key (a lead
keeps its visit's ref as text). The downgrade converts it back the same way.

Revision ID: 2026_12_06_0012
Revises: 2026_12_06_0011
Create Date: 2026-12-06
"""

# The SQL below is built only from the constant names of this file and dates.
# ruff: noqa: S608

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_12_06_0012"
down_revision: str | None = "2026_12_06_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id", "ref", "created_at", "day", "kind", "handle_id", "page_id", "route_id", "variant",
    "source", "medium", "campaign", "content", "rule", "raw_source", "referrer_host",
    "in_app_browser", "agent", "device_class", "visitor_hash",
)  # fmt: skip
COLUMN_LIST = ", ".join(COLUMNS)
TABLE_BODY = """
    id bigint NOT NULL DEFAULT nextval('{sequence}'),
    ref varchar(24) NOT NULL,
    created_at timestamptz NOT NULL,
    day date NOT NULL,
    kind varchar(8) NOT NULL,
    handle_id bigint NOT NULL,
    page_id bigint,
    route_id bigint,
    variant varchar(32),
    source varchar(16) NOT NULL,
    medium varchar(100),
    campaign varchar(100),
    content varchar(100),
    rule varchar(20) NOT NULL,
    raw_source varchar(100),
    referrer_host varchar(253),
    in_app_browser varchar(32),
    agent varchar(32),
    device_class varchar(8) NOT NULL,
    visitor_hash varchar(32) NOT NULL,
    CONSTRAINT ck_visits_kind CHECK (kind IN ('visit', 'preview'))
"""
FOREIGN_KEYS = (
    "fk_visits_handle_id_handles FOREIGN KEY (handle_id) REFERENCES handles (id) ON DELETE CASCADE",
    "fk_visits_page_id_pages FOREIGN KEY (page_id) REFERENCES pages (id) ON DELETE SET NULL",
    "fk_visits_route_id_routes FOREIGN KEY (route_id) REFERENCES routes (id) ON DELETE SET NULL",
)
# Partitions are made this many months ahead (the worker keeps it so as months pass), and at
# most this many months back: older rows, if any, land in the DEFAULT partition.
MONTHS_AHEAD = 3
MONTHS_BACK_AT_MOST = 240


def _month_start(day: date, months_later: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + months_later
    return date(index // 12, index % 12 + 1, 1)


def _create_partitions(oldest: date | None) -> None:
    this_month = _month_start(date.today())
    first = _month_start(oldest) if oldest is not None else this_month
    first = max(first, _month_start(this_month, -MONTHS_BACK_AT_MOST))
    month = first
    while month <= _month_start(this_month, MONTHS_AHEAD):
        following = _month_start(month, 1)
        op.execute(
            f"CREATE TABLE visits_{month.year:04d}_{month.month:02d} PARTITION OF visits "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"
        )
        month = following
    op.execute("CREATE TABLE visits_default PARTITION OF visits DEFAULT")


def _serial_sequence() -> str:
    sequence = op.get_bind().scalar(sa.text("SELECT pg_get_serial_sequence('visits', 'id')"))
    assert sequence, "visits.id has no sequence"
    return str(sequence)


def _partition_visits() -> None:
    sequence = _serial_sequence()
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute("ALTER TABLE visits RENAME TO visits_unpartitioned")
    for index in ("pk_visits", "uq_visits_ref", "ix_visits_handle_id_day"):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_unpartitioned")
    op.execute(
        f"CREATE TABLE visits ({TABLE_BODY.format(sequence=sequence)}) PARTITION BY RANGE (day)"
    )
    oldest = op.get_bind().scalar(sa.text("SELECT min(day) FROM visits_unpartitioned"))
    _create_partitions(oldest)
    op.execute(f"INSERT INTO visits ({COLUMN_LIST}) SELECT {COLUMN_LIST} FROM visits_unpartitioned")
    op.execute("DROP TABLE visits_unpartitioned")
    op.execute("ALTER TABLE visits ADD CONSTRAINT pk_visits PRIMARY KEY (id, day)")
    op.execute("ALTER TABLE visits ADD CONSTRAINT uq_visits_ref_day UNIQUE (ref, day)")
    op.execute("CREATE INDEX ix_visits_handle_id_day ON visits (handle_id, day)")
    for foreign_key in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE visits ADD CONSTRAINT {foreign_key}")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY visits.id")


def _unpartition_visits() -> None:
    sequence = _serial_sequence()
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute("ALTER TABLE visits RENAME TO visits_partitioned")
    for index in ("pk_visits", "uq_visits_ref_day", "ix_visits_handle_id_day"):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_partitioned")
    op.execute(f"CREATE TABLE visits ({TABLE_BODY.format(sequence=sequence)})")
    op.execute(f"INSERT INTO visits ({COLUMN_LIST}) SELECT {COLUMN_LIST} FROM visits_partitioned")
    op.execute("DROP TABLE visits_partitioned")  # and every partition with it
    op.execute("ALTER TABLE visits ADD CONSTRAINT pk_visits PRIMARY KEY (id)")
    op.execute("ALTER TABLE visits ADD CONSTRAINT uq_visits_ref UNIQUE (ref)")
    op.execute("CREATE INDEX ix_visits_handle_id_day ON visits (handle_id, day)")
    for foreign_key in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE visits ADD CONSTRAINT {foreign_key}")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY visits.id")


def upgrade() -> None:
    op.create_table(
        "variant_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("route_id", IdType, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "handle_id", "route_id", "source", name=op.f("pk_variant_rollups")
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_variant_rollups_handle_id_handles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["routes.id"],
            name=op.f("fk_variant_rollups_route_id_routes"),
            ondelete="CASCADE",
        ),
    )
    # The variants report counted raw visits until now: the same counts, once.
    op.execute(
        "INSERT INTO variant_rollups (day, handle_id, route_id, source, visits) "
        "SELECT day, handle_id, route_id, source, count(*) FROM visits "
        "WHERE kind = 'visit' AND route_id IS NOT NULL "
        "GROUP BY day, handle_id, route_id, source"
    )
    op.create_table(
        "visit_prunes",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kept_from", sa.Date(), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("visits_deleted", sa.Integer(), nullable=False),
        sa.Column("partitions_dropped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_visit_prunes")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_visits()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_visits()
    op.drop_table("visit_prunes")
    op.drop_table("variant_rollups")
