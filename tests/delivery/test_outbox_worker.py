"""The outbox is transactional and the worker is safe to run many times over: racing workers
never send one message twice, a dead worker's lease runs out, and stopping finishes the work
in hand. Handlers here are plain functions, so these tests are about the outbox alone."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import Database, create_engine
from app.delivery import service as outbox
from app.delivery.exceptions import TemporaryFailure
from app.delivery.mail import LogBackend
from app.delivery.models import OutboxMessage
from app.delivery.worker import OutboxWorker
from app.main import create_app
from tests.databases import DatabaseUnderTest, FreshDatabases, make_settings
from tests.delivery.outbox_helpers import Clock
from tests.factories import enqueue_ping, load_message


class Recorder:
    """A handler that remembers what it was given, optionally slowly or failing."""

    def __init__(self, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.seen: list[int] = []
        self.started = asyncio.Event()

    async def __call__(self, message: OutboxMessage) -> None:
        self.started.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.seen.append(message.id)
        if self.error is not None:
            raise self.error


async def count(db: Database, **where: object) -> int:
    async with db.session(write=False) as session:
        statement = select(func.count()).select_from(OutboxMessage).filter_by(**where)
        return int(await session.scalar(statement) or 0)


async def test_enqueue_in_a_rolled_back_transaction_sends_nothing(
    db: Database, make_worker: Callable[..., OutboxWorker]
) -> None:
    async with db.session() as session:
        await outbox.enqueue(session, "email", {"to": "ann@example.com"})
        await session.rollback()
    handler = Recorder()

    assert await make_worker(handlers={"email": handler}).run_once() == 0
    assert handler.seen == []
    assert await count(db) == 0


async def test_a_message_is_invisible_until_its_transaction_commits(
    db: Database, make_worker: Callable[..., OutboxWorker]
) -> None:
    handler = Recorder()
    worker = make_worker(handlers={"email": handler})
    async with db.session() as session:
        message = await outbox.enqueue(session, "email", {"to": "ann@example.com"})
        assert await worker.run_once() == 0
        await session.commit()

    assert await worker.run_once() == 1
    assert handler.seen == [message.id]


async def test_dedupe_key_queues_one_message(
    db: Database, make_worker: Callable[..., OutboxWorker]
) -> None:
    async with db.session() as session:
        first = await outbox.enqueue(session, "email", {"n": 1}, dedupe_key="confirm:7:1")
        again = await outbox.enqueue(session, "email", {"n": 2}, dedupe_key="confirm:7:1")
        await session.commit()
    async with db.session() as session:
        later = await outbox.enqueue(session, "email", {"n": 3}, dedupe_key="confirm:7:1")
        await session.commit()

    assert first.id == again.id == later.id
    assert await count(db) == 1
    assert (await load_message(db, first.id)).payload == {"n": 1}


async def test_enqueue_email_stores_the_rendered_message(db: Database) -> None:
    message_id = await enqueue_ping(db, "Ann@Example.COM", lead_id=42)

    stored = await load_message(db, message_id)
    assert (stored.kind, stored.status, stored.attempts, stored.lead_id) == (
        "email",
        "pending",
        0,
        42,
    )
    payload = stored.payload
    assert payload["to"] == "Ann@example.com"
    assert payload["subject"] == "leadlink test email: Checking the pipes."
    assert "http://127.0.0.1:8000/p/demo" in payload["text"]
    assert payload["html"].startswith("<!doctype html>")
    assert payload["template"] == "ping"


async def test_forget_lead_deletes_its_messages_only(db: Database) -> None:
    mine = await enqueue_ping(db, lead_id=1)
    other = await enqueue_ping(db, lead_id=2)
    async with db.session() as session:
        assert await outbox.forget_lead(session, 1) == 1
        await session.commit()

    assert await count(db, id=mine) == 0
    assert await count(db, id=other) == 1


async def test_two_workers_racing_never_send_a_message_twice(
    fresh: DatabaseUnderTest, db: Database, make_worker: Callable[..., OutboxWorker]
) -> None:
    async with db.session() as session:
        for n in range(60):
            await outbox.enqueue(session, "email", {"n": n})
        await session.commit()
    handler = Recorder(delay=0.01)
    # A second engine: its own connections, as a second worker process would have.
    other_engine = create_engine(fresh.settings)
    workers = [
        make_worker(handlers={"email": handler}, batch_size=7),
        make_worker(handlers={"email": handler}, batch_size=7, database=Database(other_engine)),
    ]
    try:
        await asyncio.gather(*(worker.drain() for worker in workers))
    finally:
        await other_engine.dispose()

    assert len(handler.seen) == 60
    assert Counter(handler.seen).most_common(1)[0][1] == 1
    assert await count(db, status="sent") == 60


@pytest.mark.postgresql_only
async def test_concurrent_claims_on_postgresql_skip_each_others_messages(
    tmp_path: Path, clock: Clock, fresh_databases: FreshDatabases
) -> None:
    # PostgreSQL only: SQLite has one writer at a time, so a second claim waits for the first.
    fresh, cleanup = await fresh_databases.open("postgresql", tmp_path)
    db = Database(fresh.engine, owns_engine=False)
    try:
        async with db.session() as session:
            for n in range(10):
                await outbox.enqueue(session, "email", {"n": n})
            await session.commit()
        lease = clock() + timedelta(minutes=5)

        async with db.session() as first, db.session() as second:
            mine = await outbox.claim_due(
                first, kinds=["email"], now=clock(), lease_until=lease, limit=6
            )
            # `first` has not committed: its rows are locked, and `second` skips them.
            theirs = await outbox.claim_due(
                second, kinds=["email"], now=clock(), lease_until=lease, limit=6
            )
            await first.commit()
            await second.commit()
    finally:
        await cleanup()

    assert len(mine) == 6
    assert len(theirs) == 4
    assert not {m.id for m in mine} & {m.id for m in theirs}


async def test_a_dead_workers_lease_expires_and_another_worker_sends_the_message(
    db: Database, make_worker: Callable[..., OutboxWorker], clock: Clock
) -> None:
    message_id = await enqueue_ping(db)
    # A worker claims the message and dies before sending it.
    async with db.session() as session:
        [claimed] = await outbox.claim_due(
            session,
            kinds=["email"],
            now=clock(),
            lease_until=clock() + timedelta(minutes=5),
            limit=10,
        )
        await session.commit()
    assert claimed.id == message_id
    handler = Recorder()
    survivor = make_worker(handlers={"email": handler})

    assert await survivor.run_once() == 0  # still leased
    clock.advance(minutes=5, seconds=1)
    assert await survivor.run_once() == 1

    assert handler.seen == [message_id]
    stored = await load_message(db, message_id)
    assert (stored.status, stored.attempts) == ("sent", 2)


async def test_retry_after_is_honoured_and_unexpected_errors_are_retried(
    db: Database,
    make_worker: Callable[..., OutboxWorker],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    polite = await enqueue_ping(db)
    worker = make_worker(
        handlers={"email": Recorder(error=TemporaryFailure("429", retry_after=900))}
    )
    await worker.run_once()
    stored = await load_message(db, polite)
    assert stored.status == "pending"
    assert timedelta(seconds=899) < stored.next_attempt_at - clock() <= timedelta(seconds=901)
    assert stored.last_error == "429"

    buggy = await enqueue_ping(db)
    worker = make_worker(handlers={"email": Recorder(error=KeyError("subject"))})
    with caplog.at_level(logging.WARNING, logger="app.delivery.worker"):
        await worker.run_once()
    stored = await load_message(db, buggy)
    assert stored.status == "pending"
    assert stored.last_error == "KeyError: 'subject'"
    assert any(record.exc_info for record in caplog.records)  # a bug shows its traceback


async def test_an_attempt_that_hangs_is_cut_off_and_retried(
    db: Database, make_worker: Callable[..., OutboxWorker]
) -> None:
    message_id = await enqueue_ping(db)
    worker = make_worker(handlers={"email": Recorder(delay=5)}, attempt_timeout=0.05)

    await worker.run_once()

    stored = await load_message(db, message_id)
    assert (stored.status, stored.attempts, stored.last_error) == ("pending", 1, "timed out")


async def test_a_commit_wakes_the_running_worker_and_stop_finishes_the_message_in_hand(
    db: Database, make_worker: Callable[..., OutboxWorker]
) -> None:
    handler = Recorder(delay=0.3)
    # Polling every minute: only the wake-up after the commit can explain a fast delivery.
    worker = make_worker(handlers={"email": handler}, poll_interval=60)
    worker.start()
    try:
        message_id = await enqueue_ping(db)
        await asyncio.wait_for(handler.started.wait(), timeout=5)
    finally:
        await worker.stop()

    assert handler.seen == [message_id]
    assert (await load_message(db, message_id)).status == "sent"


async def test_without_smtp_the_log_says_not_sent_once_and_names_no_address_or_link(
    db: Database, make_worker: Callable[..., OutboxWorker], caplog: pytest.LogCaptureFixture
) -> None:
    message_id = await enqueue_ping(db, link="http://127.0.0.1:8000/c/confirm-token")
    worker = make_worker()  # no LEADLINK_SMTP_HOST: the development backend
    backend = worker.handlers["email"].backend  # type: ignore[attr-defined]
    assert isinstance(backend, LogBackend)

    with caplog.at_level(logging.DEBUG, logger="app"):
        assert await worker.run_once() == 1

    lines = [record.getMessage() for record in caplog.records]
    [about] = [line for line in lines if f"email {message_id}" in line]
    assert about.startswith(
        f"outbox email {message_id} not sent (no SMTP server configured); "
        f"read it at /admin/emails/{message_id} (attempt 1, "
    )
    assert not any(f"{message_id} sent" in line for line in lines), "and not also 'sent'"
    assert "ann@example.com" not in caplog.text
    assert "confirm-token" not in caplog.text
    assert "Checking the pipes" not in caplog.text
    # The message is settled, and readable in the admin outbox.
    assert (await load_message(db, message_id)).status == "sent"
    [kept] = backend.messages
    assert kept["To"] == "ann@example.com"


@pytest.mark.parametrize("in_process", [True, False])
async def test_the_app_runs_the_worker_in_process_unless_told_not_to(
    fresh: DatabaseUnderTest, tmp_path: Path, in_process: bool
) -> None:
    settings = make_settings(
        tmp_path, fresh.settings.effective_database_url, outbox_in_process=in_process
    )
    application = create_app(settings, database=Database(fresh.engine, owns_engine=False))
    async with application.router.lifespan_context(application):
        worker: OutboxWorker = application.state.outbox
        message_id = await enqueue_ping(application.state.database)
        deadline = asyncio.get_running_loop().time() + 5
        while in_process and (await load_message(worker.database, message_id)).status != "sent":
            assert asyncio.get_running_loop().time() < deadline, "not delivered in 5 s"
            await asyncio.sleep(0.05)
        if not in_process:
            await asyncio.sleep(0.2)

    stored = await load_message(worker.database, message_id)
    assert stored.status == ("sent" if in_process else "pending")
