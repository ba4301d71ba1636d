"""One group-commit batch of first opt-ins, written the way the serving process writes it (an
engine with a pool, so on PostgreSQL the batch is one statement that is its own transaction):
each new lead with its consent record, its first email and its place in the report; repeats of
an address (known already, or twice in the batch) written by nobody; and the connection the batch
used handed back in a state where the next transaction still rolls back.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database, create_engine, utcnow
from app.delivery.models import OutboxMessage
from app.errors import is_database_outage
from app.handles.models import Handle
from app.leads.models import ConsentEvent, Lead
from app.leads.opt_in_writer import NewOptIn, OptInWriter
from app.leads.postgres_batch import RESERVE_SECONDS
from app.links.attribution import FormAttribution
from app.pages.models import Page
from app.reports.models import LeadRollup, ReportDay
from tests.databases import BACKENDS, DatabaseUnderTest, FreshDatabases
from tests.factories import add_handle, add_lead, add_page, opt_in_form
from tests.tcp_proxy import TcpProxy
from tests.webhooks.webhook_helpers import lead_links

CONFIRM_LINK = re.compile(r"/c/([A-Za-z0-9_.~-]+)")


@pytest.fixture(params=BACKENDS)
async def fresh(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_databases: FreshDatabases
) -> AsyncIterator[DatabaseUnderTest]:
    under_test, cleanup = await fresh_databases.open(request.param, tmp_path)
    try:
        yield under_test
    finally:
        await cleanup()


def _from(page: Page, source: str) -> FormAttribution:
    return FormAttribution(
        handle_id=page.handle_id,
        page_id=page.id,
        route_id=None,
        variant=None,
        source=source,
        medium=None,
        campaign=None,
        visit_ref=None,
        rendered_at=0,
    )


async def _pages(database: Database) -> tuple[Page, Page]:
    async with database.session() as session:
        anna: Handle = await add_handle(session, "anna")
        bob: Handle = await add_handle(session, "bob")
        guide = await add_page(session, anna, "guide", double_opt_in=True)
        recipes = await add_page(session, bob, "recipes", double_opt_in=False)
        await add_lead(session, guide, "known@example.com", status="pending")
        await session.commit()
    return guide, recipes


async def test_a_batch_writes_each_new_lead_once_with_its_steps(fresh: DatabaseUnderTest) -> None:
    database = Database(fresh.engine, owns_engine=False)
    guide, recipes = await _pages(database)
    opt_ins = [
        NewOptIn(guide, opt_in_form("ada@example.com"), _from(guide, "instagram"), utcnow()),
        NewOptIn(guide, opt_in_form("bea@example.com"), None, utcnow()),
        NewOptIn(recipes, opt_in_form("cy@example.com"), _from(recipes, "tiktok"), utcnow()),
        NewOptIn(guide, opt_in_form("known@example.com"), None, utcnow()),
        NewOptIn(guide, opt_in_form("ada@example.com"), None, utcnow()),
        NewOptIn(recipes, opt_in_form("ada@example.com"), None, utcnow()),  # another page
    ]
    writer = OptInWriter(database, lead_links())
    writer.start()
    try:
        ids = await asyncio.gather(*(writer.write(opt_in) for opt_in in opt_ins))
    finally:
        await writer.stop()

    ada, bea, cy, known, ada_again, ada_elsewhere = ids
    assert known is None, "an address the page knows goes the repeat path"
    assert ada_again is None, "the same address twice in a batch: the second is a repeat"
    assert isinstance(ada, int)
    assert isinstance(bea, int)
    assert isinstance(cy, int)
    assert isinstance(ada_elsewhere, int)
    new = [ada, bea, cy, ada_elsewhere]
    assert len(set(new)) == 4

    async with database.session(write=False) as session:
        leads = {
            lead.id: lead
            for lead in await session.scalars(select(Lead).where(Lead.email != "known@example.com"))
        }
        assert set(leads) == set(new)
        assert (leads[ada].email, leads[ada].page_id, leads[ada].source) == (
            "ada@example.com", guide.id, "instagram",
        )  # fmt: skip
        assert (leads[ada].status, leads[cy].status) == ("pending", "confirmed")
        assert (leads[cy].handle_id, leads[cy].source) == (recipes.handle_id, "tiktok")
        assert leads[cy].gift_sent_at is not None
        assert leads[ada].confirmation_sent_at is not None

        consents = list(await session.scalars(select(ConsentEvent)))
        assert Counter(consent.lead_id for consent in consents) == Counter(new)
        assert {(c.kind, c.checkbox, c.source) for c in consents if c.lead_id == cy} == {
            ("opt_in", True, "tiktok")
        }

        emails = {
            message.lead_id: message.payload
            for message in await session.scalars(select(OutboxMessage))
        }
        assert set(emails) == set(new), "one first email per new lead, none for a repeat"
        assert (emails[ada]["to"], emails[ada]["template"]) == ("ada@example.com", "confirm")
        assert (emails[cy]["to"], emails[cy]["template"]) == ("cy@example.com", "gift")
        # Its links carry its own id (signed before the id was stored).
        confirm = CONFIRM_LINK.search(emails[ada]["text"])
        assert confirm is not None
        assert lead_links().tokens.read_confirm(confirm.group(1)) == ada

        # The report counts what the rows say: per page and source, and per handle and source.
        rollups = {
            (row.page_id, row.source): row.leads
            for row in await session.scalars(select(LeadRollup))
        }
        counted = await session.execute(
            select(Lead.page_id, Lead.source, func.count()).group_by(Lead.page_id, Lead.source)
        )
        assert rollups == {(page_id, source): count for page_id, source, count in counted}
        days = {
            (row.handle_id, row.source): (row.leads, row.confirmed_leads)
            for row in await session.scalars(select(ReportDay))
        }
        assert days == {
            (guide.handle_id, "instagram"): (1, 0),
            (guide.handle_id, "direct"): (2, 0),
            (recipes.handle_id, "tiktok"): (1, 1),
            (recipes.handle_id, "direct"): (1, 1),
        }


async def test_after_a_batch_the_pool_hands_out_transactions_again(
    fresh: DatabaseUnderTest,
) -> None:
    """On PostgreSQL the batch runs on a connection in autocommit; that connection goes back
    to the pool, and a session that gets it next must still be able to roll back."""
    engine = fresh.engine
    database = Database(engine, owns_engine=False)
    guide, _ = await _pages(database)
    writer = OptInWriter(database, lead_links())
    writer.start()
    try:
        lead_id = await writer.write(
            NewOptIn(guide, opt_in_form("ada@example.com"), None, utcnow())
        )
    finally:
        await writer.stop()
    assert isinstance(lead_id, int)

    for _ in range(fresh.settings.db_pool_size + 1):  # whichever pooled connection the batch used
        async with database.session() as session:
            await session.execute(text("UPDATE leads SET name = 'not kept'"))
            # Leaving without a commit rolls back.
    async with database.session(write=False) as session:
        names = set(await session.scalars(select(Lead.name)))
    assert "not kept" not in names


@contextmanager
def statements_run(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements sent on `engine` while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _write_all(writer: OptInWriter, opt_ins: list[NewOptIn]) -> list[int | None]:
    return list(await asyncio.gather(*(writer.write(opt_in) for opt_in in opt_ins)))


@pytest.mark.postgresql_only
async def test_a_busy_writer_commits_a_batch_in_one_statement(
    tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    """Under load the write also takes the next batch's lead ids, so that batch is one round
    trip; ids still follow the order the leads came in, and a known address (found by the
    write itself then) still goes the repeat path. Ids kept longer than a second are not used."""
    fresh, cleanup = await fresh_databases.open("postgresql", tmp_path)
    database = Database(fresh.engine, owns_engine=False)
    guide, _ = await _pages(database)
    writer = OptInWriter(database, lead_links())
    writer.start()
    try:
        first = await _write_all(
            writer,
            [NewOptIn(guide, opt_in_form(f"a{n}@example.com"), None, utcnow()) for n in range(3)],
        )
        second_batch = [
            NewOptIn(guide, opt_in_form("b0@example.com"), None, utcnow()),
            NewOptIn(guide, opt_in_form("known@example.com"), None, utcnow()),
            NewOptIn(guide, opt_in_form("b1@example.com"), None, utcnow()),
        ]
        with statements_run(fresh.engine) as sent:
            second = await _write_all(writer, second_batch)
        await asyncio.sleep(RESERVE_SECONDS + 0.2)
        with statements_run(fresh.engine) as sent_later:
            third = await _write_all(
                writer, [NewOptIn(guide, opt_in_form("c0@example.com"), None, utcnow())]
            )
    finally:
        await writer.stop()
        await cleanup()

    assert len(sent) == 1, sent
    assert len(sent_later) == 2, "a reserve older than RESERVE_SECONDS is not used"
    assert second[1] is None
    ids = [lead_id for lead_id in [*first, second[0], second[2], *third] if lead_id is not None]
    assert len(ids) == 6
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.postgresql_only
async def test_an_outage_fails_the_batch_quickly_and_the_next_one_is_written(
    tmp_path: Path, fresh_databases: FreshDatabases
) -> None:
    """The batch's connection in autocommit is an ordinary pooled one: a database that goes
    away fails the waiting opt-ins with an outage (their requests answer 503) within the
    timeouts, and once it is back the next opt-in is committed without a restart."""
    fresh, cleanup = await fresh_databases.open("postgresql", tmp_path)
    url = make_url(fresh.settings.effective_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    settings = fresh.settings.model_copy(
        update={
            "database_url": url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            "db_timeout_seconds": 2.0,
        }
    )
    engine = create_engine(settings)
    database = Database(engine)
    writer = OptInWriter(database, lead_links())
    try:
        guide, _ = await _pages(database)
        writer.start()
        before = await writer.write(NewOptIn(guide, opt_in_form("a@example.com"), None, utcnow()))
        await proxy.cut()
        started = time.monotonic()
        with pytest.raises((DBAPIError, OSError, PoolTimeoutError)) as failed:
            await writer.write(NewOptIn(guide, opt_in_form("b@example.com"), None, utcnow()))
        assert is_database_outage(failed.value), repr(failed.value)
        assert time.monotonic() - started < 15
        await proxy.restore()
        after = await writer.write(NewOptIn(guide, opt_in_form("c@example.com"), None, utcnow()))
    finally:
        await writer.stop()
        await proxy.close()
        await engine.dispose()
        await cleanup()
    assert isinstance(before, int)
    assert isinstance(after, int)
