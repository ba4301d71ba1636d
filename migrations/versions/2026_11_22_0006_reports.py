"""Reports: social-metric snapshots, lead rollups, per-source day and month rollups kept by
triggers, and the report time zone's UTC offsets.

Triggers keep every rollup equal to the rows below it, in the same transaction, on SQLite and
PostgreSQL alike, whichever code path writes: `leads` → `lead_rollups` (the lead's local day comes
from `report_zone_offsets`); `visit_rollups`, `lead_rollups` and `social_metrics` (likes) →
`report_days` (pages added up) → `report_months`.

Revision ID: 2026_11_22_0006
Revises: 2026_11_22_0005
Create Date: 2026-11-22
"""

# The SQL below is built only from the constant table and column names of this file.
# ruff: noqa: S608

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

from app.db import IdType, UTCDateTime

revision: str = "2026_11_22_0006"
down_revision: str | None = "2026_11_22_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRIC_FIELDS = ("likes", "followers", "impressions", "comments", "shares")
VISIT_MEASURES = ("visits", "unique_visitors", "previews")
LEAD_MEASURES = ("leads", "confirmed_leads", "customers")
LIKE_MEASURES = ("likes", "likes_known")  # the sum of known likes, and how many were known
MEASURES = VISIT_MEASURES + LEAD_MEASURES + LIKE_MEASURES

# How a lead row counts (the report's definitions, see docs/reports.md).
CONFIRMED = (
    "CASE WHEN {r}.confirmed_at IS NOT NULL OR {r}.status IN ('confirmed', 'customer') "
    "THEN 1 ELSE 0 END"
)
CUSTOMER = "CASE WHEN {r}.customer_at IS NOT NULL OR {r}.status = 'customer' THEN 1 ELSE 0 END"
LEAD_KEYS = ("day", "handle_id", "page_id", "source")
LEAD_WATCHED = (
    "status", "confirmed_at", "customer_at", "created_at", "handle_id", "page_id", "source",
)  # fmt: skip


def _month(dialect: str, day: str) -> str:
    """The first day of the month of the date expression `day`."""
    if dialect == "postgresql":
        return f"({day} - CAST(EXTRACT(DAY FROM {day}) AS INTEGER) + 1)"
    return f"date({day}, 'start of month')"


@dataclass(frozen=True)
class Chain:
    """A rollup `target` (keyed by period, handle and source) fed from the rows of `source`."""

    source: str
    target: str
    period: str
    period_sql: str
    source_sql: str
    measures: dict[str, str]  # target column → SQL over a source row `{r}`
    fixed_keys: bool  # the source row's key never changes (it is a rollup's primary key)

    @property
    def keys(self) -> tuple[str, str, str]:
        return (self.period, "handle_id", "source")

    @property
    def name(self) -> str:
        return f"trg_{self.source}_to_{self.target}"

    def values(self, row: str, sign: str = "") -> dict[str, str]:
        return {
            self.period: self.period_sql.format(r=row),
            "handle_id": f"{row}.handle_id",
            "source": self.source_sql.format(r=row),
            **dict.fromkeys(MEASURES, "0"),
            **{m: f"{sign}({sql.format(r=row)})" for m, sql in self.measures.items()},
        }

    def delta(self) -> dict[str, str]:
        new = self.values("NEW")
        return {
            **new,
            **{
                m: f"({sql.format(r='NEW')}) - ({sql.format(r='OLD')})"
                for m, sql in self.measures.items()
            },
        }


def _chains(dialect: str) -> tuple[Chain, ...]:
    return (
        Chain("visit_rollups", "report_days", "day", "{r}.day", "{r}.source",
              {m: f"{{r}}.{m}" for m in VISIT_MEASURES}, True),
        Chain("lead_rollups", "report_days", "day", "{r}.day", "{r}.source",
              {m: f"{{r}}.{m}" for m in LEAD_MEASURES}, True),
        Chain("social_metrics", "report_days", "day", "{r}.day", "{r}.platform",
              {"likes": "COALESCE({r}.likes, 0)",
               "likes_known": "CASE WHEN {r}.likes IS NULL THEN 0 ELSE 1 END"},
              False),
        Chain("report_days", "report_months", "month", _month(dialect, "{r}.day"), "{r}.source",
              {m: f"{{r}}.{m}" for m in MEASURES}, True),
    )  # fmt: skip


def _upsert(
    table: str,
    keys: Sequence[str],
    values: dict[str, str],
    measures: Sequence[str],
    only_if: str = "TRUE",
) -> str:
    """Add `values` (SQL expressions by column) to the row of `keys` in `table` (when
    `only_if` holds; the WHERE also settles SQLite's INSERT … SELECT … ON CONFLICT grammar)."""
    columns = [*keys, *measures]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values[column] for column in columns)} WHERE {only_if} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures)
    )


def _drop_empty(
    table: str, keys: Sequence[str], values: dict[str, str], measures: Sequence[str]
) -> str:
    """Remove the row of `keys` once every count in it is back to 0 (a rollup of nothing)."""
    return (
        f"DELETE FROM {table} WHERE "
        + " AND ".join(f"{key} = {values[key]}" for key in keys)
        + " AND "
        + " AND ".join(f"{m} = 0" for m in measures)
    )


def _lead_values(row: str, sign: str, day: str) -> dict[str, str]:
    return {
        "day": day,
        "handle_id": f"{row}.handle_id",
        "page_id": f"{row}.page_id",
        "source": f"{row}.source",
        "leads": f"{sign}1",
        "confirmed_leads": f"{sign}({CONFIRMED.format(r=row)})",
        "customers": f"{sign}({CUSTOMER.format(r=row)})",
    }


def _sqlite_lead_day(row: str) -> str:
    offset = (
        f"(SELECT offset_seconds FROM report_zone_offsets WHERE starts <= {row}.created_at "
        "ORDER BY starts DESC LIMIT 1)"
    )
    return f"date(substr({row}.created_at, 1, 19), COALESCE({offset}, 0) || ' seconds')"


def _chain_steps(chain: Chain) -> tuple[list[str], list[str], list[str]]:
    """The statements of a chain's trigger on insert, update and delete."""
    t, keys = chain.target, chain.keys
    new, old = chain.values("NEW"), chain.values("OLD", "-")
    insert = [_upsert(t, keys, new, MEASURES)]
    if not chain.fixed_keys:  # a snapshot without likes adds an empty row: do not keep it
        insert.append(_drop_empty(t, keys, new, MEASURES))
    # Deleting a handle cascades to its rollups: nothing to subtract from a handle that is gone.
    handle_exists = "EXISTS (SELECT 1 FROM handles WHERE handles.id = OLD.handle_id)"
    delete = [
        _upsert(t, keys, old, MEASURES, only_if=handle_exists),
        _drop_empty(t, keys, old, MEASURES),
    ]
    if chain.fixed_keys:
        update = [_upsert(t, keys, chain.delta(), MEASURES), _drop_empty(t, keys, new, MEASURES)]
    else:
        update = delete + insert
    return insert, update, delete


def _sqlite_triggers() -> list[str]:
    new_lead = _lead_values("NEW", "", _sqlite_lead_day("NEW"))
    old_lead = _lead_values("OLD", "-", _sqlite_lead_day("OLD"))
    add = _upsert("lead_rollups", LEAD_KEYS, new_lead, LEAD_MEASURES)
    remove = _upsert("lead_rollups", LEAD_KEYS, old_lead, LEAD_MEASURES)
    tidy = _drop_empty("lead_rollups", LEAD_KEYS, old_lead, LEAD_MEASURES)
    watched = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in LEAD_WATCHED)
    statements = [
        f"CREATE TRIGGER trg_leads_rollup_insert AFTER INSERT ON leads BEGIN {add}; END",
        f"CREATE TRIGGER trg_leads_rollup_update AFTER UPDATE OF {', '.join(LEAD_WATCHED)} "
        f"ON leads WHEN {watched} BEGIN {remove}; {tidy}; {add}; END",
        f"CREATE TRIGGER trg_leads_rollup_delete AFTER DELETE ON leads BEGIN {remove}; {tidy}; END",
    ]
    for chain in _chains("sqlite"):
        for event, steps in zip(("insert", "update", "delete"), _chain_steps(chain), strict=True):
            body = "".join(f"{step}; " for step in steps)
            statements.append(
                f"CREATE TRIGGER {chain.name}_{event} AFTER {event.upper()} ON {chain.source} "
                f"BEGIN {body}END"
            )
    return statements


def _postgres_function(name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}\nRETURN NULL;\nEND;\n$$"
    )


def _postgres_triggers() -> list[str]:
    lead_day = (
        "CREATE FUNCTION report_lead_day(at timestamptz) RETURNS date LANGUAGE sql STABLE AS $$\n"
        "SELECT CAST((at AT TIME ZONE 'UTC') + make_interval(secs => COALESCE((\n"
        "  SELECT offset_seconds FROM report_zone_offsets WHERE starts <= at\n"
        "  ORDER BY starts DESC LIMIT 1), 0)) AS DATE)\n$$"
    )
    new_lead = _lead_values("NEW", "", "report_lead_day(NEW.created_at)")
    old_lead = _lead_values("OLD", "-", "report_lead_day(OLD.created_at)")
    watched = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in LEAD_WATCHED)
    leads_body = (
        f"IF TG_OP = 'UPDATE' AND NOT ({watched}) THEN RETURN NULL; END IF;\n"
        "IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
        f"  {_upsert('lead_rollups', LEAD_KEYS, old_lead, LEAD_MEASURES)};\n"
        f"  {_drop_empty('lead_rollups', LEAD_KEYS, old_lead, LEAD_MEASURES)};\n"
        "END IF;\n"
        "IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
        f"  {_upsert('lead_rollups', LEAD_KEYS, new_lead, LEAD_MEASURES)};\n"
        "END IF;"
    )
    statements = [
        lead_day,
        _postgres_function("trg_leads_rollup", leads_body),
        "CREATE TRIGGER trg_leads_rollup AFTER INSERT OR UPDATE OR DELETE ON leads "
        "FOR EACH ROW EXECUTE FUNCTION trg_leads_rollup()",
    ]
    for chain in _chains("postgresql"):
        insert, update, delete = (
            "\n".join(f"  {s};" for s in steps) for steps in _chain_steps(chain)
        )
        body = (
            f"IF TG_OP = 'INSERT' THEN\n{insert}\nELSIF TG_OP = 'UPDATE' THEN\n{update}\n"
            f"ELSE\n{delete}\nEND IF;"
        )
        statements += [
            _postgres_function(chain.name, body),
            f"CREATE TRIGGER {chain.name} AFTER INSERT OR UPDATE OR DELETE ON {chain.source} "
            f"FOR EACH ROW EXECUTE FUNCTION {chain.name}()",
        ]
    return statements


def _rollup_table(
    name: str, period: str, keys: Sequence[sa.Column], measures: Sequence[str]
) -> None:
    op.create_table(
        name,
        sa.Column(period, sa.Date(), nullable=False),
        sa.Column("handle_id", IdType, nullable=False),
        *keys,
        sa.Column("source", sa.String(16), nullable=False),
        *(
            sa.Column(m, sa.BigInteger() if m == "likes" else sa.Integer(), nullable=False)
            for m in measures
        ),
        sa.PrimaryKeyConstraint(
            period, "handle_id", *(key.name for key in keys), "source", name=op.f(f"pk_{name}")
        ),
        sa.ForeignKeyConstraint(
            ["handle_id"], ["handles.id"], name=op.f(f"fk_{name}_handle_id_handles"),
            ondelete="CASCADE",
        ),
    )  # fmt: skip


def _fill_from_existing_rows(dialect: str) -> None:
    """The rollups of the rows already there (lead days in UTC until a rebuild sets a zone)."""
    lead_day = (
        "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
        if dialect == "postgresql"
        else "date(substr(created_at, 1, 19))"
    )
    op.execute(
        "INSERT INTO lead_rollups (day, handle_id, page_id, source, leads, confirmed_leads, "
        f"customers) SELECT {lead_day}, handle_id, page_id, source, COUNT(*), "
        f"SUM({CONFIRMED.format(r='leads')}), SUM({CUSTOMER.format(r='leads')}) FROM leads "
        f"GROUP BY {lead_day}, handle_id, page_id, source"
    )
    zeros = dict.fromkeys(MEASURES, "0")
    parts = [
        (
            "visit_rollups", "source",
            {**zeros, **{m: m for m in VISIT_MEASURES}},
        ),
        (
            "lead_rollups", "source",
            {**zeros, **{m: m for m in LEAD_MEASURES}},
        ),
        (
            "social_metrics", "platform",
            {**zeros, "likes": "COALESCE(likes, 0)",
             "likes_known": "CASE WHEN likes IS NULL THEN 0 ELSE 1 END"},
        ),
    ]  # fmt: skip
    stacked = " UNION ALL ".join(
        f"SELECT day, handle_id, {source} AS source, "
        + ", ".join(f"{sql} AS {m}" for m, sql in values.items())
        + f" FROM {table}"
        for table, source, values in parts
    )
    sums = ", ".join(f"SUM({m})" for m in MEASURES)
    op.execute(
        f"INSERT INTO report_days (day, handle_id, source, {', '.join(MEASURES)}) "
        f"SELECT day, handle_id, source, {sums} FROM ({stacked}) AS stacked "
        "GROUP BY day, handle_id, source"
    )
    month = _month(dialect, "day")
    op.execute(
        f"INSERT INTO report_months (month, handle_id, source, {', '.join(MEASURES)}) "
        f"SELECT {month}, handle_id, source, {sums} FROM report_days "
        f"GROUP BY {month}, handle_id, source"
    )


def upgrade() -> None:
    op.create_table(
        "social_metrics",
        sa.Column("id", IdType, primary_key=True),
        sa.Column("handle_id", IdType, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=True) for name in METRIC_FIELDS),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_metrics")),
        sa.ForeignKeyConstraint(
            ["handle_id"],
            ["handles.id"],
            name=op.f("fk_social_metrics_handle_id_handles"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "handle_id", "platform", "day", name=op.f("uq_social_metrics_handle_id_platform_day")
        ),
        sa.CheckConstraint(
            " AND ".join(f"({name} IS NULL OR {name} >= 0)" for name in METRIC_FIELDS),
            name=op.f("ck_social_metrics_counts_not_negative"),
        ),
    )
    op.create_table(
        "report_zone_offsets",
        sa.Column("starts", UTCDateTime, nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("offset_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("starts", name=op.f("pk_report_zone_offsets")),
    )
    page = sa.Column("page_id", IdType, nullable=False)
    _rollup_table("lead_rollups", "day", [page], LEAD_MEASURES)
    _rollup_table("report_days", "day", [], MEASURES)
    _rollup_table("report_months", "month", [], MEASURES)

    dialect = op.get_bind().dialect.name
    # Existing rows first, then the triggers (which would otherwise count them twice).
    _fill_from_existing_rows(dialect)
    for statement in _postgres_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    triggers = [("trg_leads_rollup", "leads")]
    triggers += [(chain.name, chain.source) for chain in _chains(dialect)]
    for name, table in triggers:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{event}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS report_lead_day(timestamptz)")
    op.drop_table("report_months")
    op.drop_table("report_days")
    op.drop_table("lead_rollups")
    op.drop_table("report_zone_offsets")
    op.drop_table("social_metrics")
