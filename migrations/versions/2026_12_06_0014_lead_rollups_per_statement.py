"""PostgreSQL: new leads are added to `lead_rollups` once per statement, not once per row.

The row trigger of 2026_11_22_0006 ran, for every lead inserted, an upsert of its `lead_rollups`
row, whose own trigger upserted `report_days`, whose trigger upserted `report_months`: five
statements per lead, each rewriting the same few hot rows again within one transaction. A batch
of 256 first opt-ins (`app.leads.postgres_batch`, one INSERT) spent about 190 ms in that
trigger and 20 ms in everything else (EXPLAIN ANALYZE on the busy development machine; 12 ms
with the trigger below). An AFTER INSERT trigger FOR EACH
STATEMENT reads the statement's new rows (a transition table), adds them up per rollup key and
upserts each key once; the chain above `lead_rollups` then fires once per key. Updates and
deletes keep the row trigger (one lead at a time: a confirmation, an erasure).

The keys are upserted in the order (day, handle, source, page), so the `report_days` rows the
chain updates, keyed (day, handle, source), are locked in their own order too: two batches
committing at once (replicas, or the visit writer, which sorts the same way) wait for each other
instead of deadlocking.

The counts are the same; SQLite has no statement triggers and keeps its row trigger.

Revision ID: 2026_12_06_0014
Revises: 2026_12_06_0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_06_0014"
down_revision: str | None = "2026_12_06_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# How a lead counts is the report's definition, as in 2026_11_22_0006 (docs/reports.md).
INSERTED_FUNCTION = """
CREATE FUNCTION trg_leads_rollup_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
INSERT INTO lead_rollups (day, handle_id, page_id, source, leads, confirmed_leads, customers)
SELECT report_lead_day(created_at), handle_id, page_id, source, COUNT(*),
  SUM(CASE WHEN confirmed_at IS NOT NULL OR status IN ('confirmed', 'customer') THEN 1 ELSE 0 END),
  SUM(CASE WHEN customer_at IS NOT NULL OR status = 'customer' THEN 1 ELSE 0 END)
FROM inserted_leads GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4, 3
ON CONFLICT (day, handle_id, page_id, source) DO UPDATE SET
  leads = lead_rollups.leads + excluded.leads,
  confirmed_leads = lead_rollups.confirmed_leads + excluded.confirmed_leads,
  customers = lead_rollups.customers + excluded.customers;
RETURN NULL;
END;
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(INSERTED_FUNCTION)
    op.execute("DROP TRIGGER trg_leads_rollup ON leads")
    # The row function stays as it was; it is no longer called for an INSERT.
    op.execute(
        "CREATE TRIGGER trg_leads_rollup AFTER UPDATE OR DELETE ON leads "
        "FOR EACH ROW EXECUTE FUNCTION trg_leads_rollup()"
    )
    op.execute(
        "CREATE TRIGGER trg_leads_rollup_inserted AFTER INSERT ON leads "
        "REFERENCING NEW TABLE AS inserted_leads "
        "FOR EACH STATEMENT EXECUTE FUNCTION trg_leads_rollup_inserted()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER trg_leads_rollup_inserted ON leads")
    op.execute("DROP FUNCTION trg_leads_rollup_inserted()")
    op.execute("DROP TRIGGER trg_leads_rollup ON leads")
    op.execute(
        "CREATE TRIGGER trg_leads_rollup AFTER INSERT OR UPDATE OR DELETE ON leads "
        "FOR EACH ROW EXECUTE FUNCTION trg_leads_rollup()"
    )
