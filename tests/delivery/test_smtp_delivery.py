"""Email through the outbox to a real SMTP server (aiosmtpd on 127.0.0.1): delivered as
multipart with the unsubscribe headers, retried while the server is down, given up on loudly."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import pytest

from app import metrics
from app.db import Database
from app.delivery.worker import OutboxWorker, RetryPolicy
from tests.delivery.outbox_helpers import Clock
from tests.factories import enqueue_ping, load_message
from tests.smtp_server import SmtpServer

UNSUBSCRIBE = "http://127.0.0.1:8000/u/tok.EN-123"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def smtp_down() -> AsyncIterator[SmtpServer]:
    """A server whose port nothing listens on until the test calls `start()`."""
    server = SmtpServer()
    yield server
    await server.stop()


def counter(metric: object, kind: str = "email") -> float:
    return metrics.registry.get_sample_value(f"{metric}_total", {"kind": kind}) or 0.0


async def test_email_arrives_as_text_and_html_with_unsubscribe_headers(
    db: Database, make_worker: Callable[..., OutboxWorker], smtp: SmtpServer
) -> None:
    message_id = await enqueue_ping(
        db,
        "Ann@Example.com",
        note="Hello\r\nBcc: evil@example.com",
        unsubscribe_url=UNSUBSCRIBE,
    )
    sent_before = counter("leadlink_outbox_sent")

    assert await make_worker(**smtp.settings()).run_once() == 1

    [(mail_from, recipients, _)] = smtp.envelopes
    assert mail_from == "noreply@leadlink.test"
    assert recipients == ["Ann@example.com"]
    [received] = smtp.messages
    assert received["Subject"] == "leadlink test email: Hello Bcc: evil@example.com"
    assert "Bcc" not in received
    assert received["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Auto-Submitted"] == "auto-generated"
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Hello\r\nBcc: evil@example.com\r\n" in text.get_content()  # CRLF on the wire
    assert f'href="{UNSUBSCRIBE}"' in html.get_content()

    stored = await load_message(db, message_id)
    assert (stored.status, stored.attempts, stored.locked_until) == ("sent", 1, None)
    assert stored.sent_at is not None
    assert counter("leadlink_outbox_sent") == sent_before + 1


async def test_message_waits_while_the_server_is_down_and_is_delivered_once_it_is_back(
    db: Database,
    make_worker: Callable[..., OutboxWorker],
    smtp_down: SmtpServer,
    clock: Clock,
) -> None:
    message_id = await enqueue_ping(db)
    worker = make_worker(**smtp_down.settings())
    retries_before = counter("leadlink_outbox_retries")

    assert await worker.run_once() == 1
    stored = await load_message(db, message_id)
    assert (stored.status, stored.attempts, stored.locked_until) == ("pending", 1, None)
    assert stored.next_attempt_at > clock()
    assert stored.last_error
    assert len(stored.last_error) <= 1000
    assert counter("leadlink_outbox_retries") == retries_before + 1

    await smtp_down.start()
    assert await worker.run_once() == 0  # not due yet: the back-off is respected
    assert smtp_down.envelopes == []

    clock.jump_to(stored.next_attempt_at)
    assert await worker.run_once() == 1
    clock.advance(hours=2)
    assert await worker.run_once() == 0

    assert len(smtp_down.envelopes) == 1
    stored = await load_message(db, message_id)
    assert (stored.status, stored.attempts) == ("sent", 2)


async def test_spent_retry_budget_fails_the_message_with_an_error_log(
    db: Database,
    make_worker: Callable[..., OutboxWorker],
    smtp_down: SmtpServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message_id = await enqueue_ping(db, "secret.person@example.com")
    policy = RetryPolicy(max_attempts=2, first_delay=60)
    worker = make_worker(**smtp_down.settings(), policies={"email": policy})
    failed_before = counter("leadlink_outbox_failed")

    with caplog.at_level(logging.WARNING, logger="app.delivery.worker"):
        await worker.run_once()
        clock.advance(hours=1)
        await worker.run_once()
        clock.advance(days=2)
        assert await worker.run_once() == 0

    stored = await load_message(db, message_id)
    assert (stored.status, stored.attempts, stored.sent_at) == ("failed", 2, None)
    assert stored.last_error
    assert stored.last_error.startswith("retry budget spent after 2 attempts")
    assert counter("leadlink_outbox_failed") == failed_before + 1
    [error] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert f"email {message_id} failed for good after 2 attempts" in error.getMessage()
    assert "secret.person" not in caplog.text


async def test_refused_recipient_fails_at_once(
    db: Database,
    make_worker: Callable[..., OutboxWorker],
    smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp.refuse.add("gone@example.com")
    message_id = await enqueue_ping(db, "gone@example.com")

    with caplog.at_level(logging.ERROR, logger="app.delivery.worker"):
        await make_worker(**smtp.settings()).run_once()

    stored = await load_message(db, message_id)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert stored.last_error
    assert "550" in stored.last_error
    assert "refused" in caplog.text
    assert "gone@example.com" not in caplog.text


@pytest.mark.parametrize(
    ("password", "delivered"), [("right-password", True), ("wrong-password", False)]
)
async def test_smtp_authentication(
    db: Database,
    make_worker: Callable[..., OutboxWorker],
    password: str,
    delivered: bool,
) -> None:
    server = SmtpServer(login=("leadlink", "right-password"))
    await server.start()
    try:
        message_id = await enqueue_ping(db)
        settings = {**server.settings(), "smtp_password": password}
        await make_worker(**settings).run_once()
    finally:
        await server.stop()

    stored = await load_message(db, message_id)
    assert len(server.envelopes) == (1 if delivered else 0)
    assert stored.status == ("sent" if delivered else "pending")
    if not delivered:
        assert stored.last_error
        assert "535" in stored.last_error


async def test_international_addresses(
    db: Database, make_worker: Callable[..., OutboxWorker], smtp: SmtpServer
) -> None:
    idn = await enqueue_ping(db, "anna@bücher.example")
    utf8 = await enqueue_ping(db, "jörg@example.com")

    assert await make_worker(**smtp.settings()).run_once() == 2

    assert sorted(recipients[0] for _, recipients, _ in smtp.envelopes) == [
        "anna@xn--bcher-kva.example",  # the domain in its ASCII form: any server takes it
        "jörg@example.com",  # a non-ASCII mailbox: sent with SMTPUTF8
    ]
    assert sorted(str(message["To"]) for message in smtp.messages) == [
        "anna@xn--bcher-kva.example",
        "jörg@example.com",
    ]
    assert (await load_message(db, idn)).status == (await load_message(db, utf8)).status == "sent"
