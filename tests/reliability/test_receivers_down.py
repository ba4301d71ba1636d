"""Fault 4: the SMTP server and a webhook receiver down for a while, against a real `leadlink
worker` process, on SQLite and on PostgreSQL.

Opt-ins queue their emails and `lead.created` events; the SMTP server is not running at first
(connections refused), the webhook receiver first refuses connections, then answers 503, then
200. The messages wait in the outbox and go out once the receivers are back; every attempt
follows the documented back-off (its first wait shortened to 1 s with
LEADLINK_OUTBOX_FIRST_RETRY_SECONDS); and nothing arrives twice: one email per Message-ID, one
accepted delivery per event id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from http import HTTPStatus
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import Database, create_engine
from app.delivery.models import OutboxMessage
from app.delivery.worker import DEFAULT_RETRY_POLICY, RetryPolicy
from app.leads import service as leads
from app.leads.tokens import LeadLinks, LeadTokens
from app.pages.models import Page
from app.webhooks.sender import WEBHOOK_RETRY_POLICY
from tests.databases import TEST_SECRET, make_settings
from tests.factories import add_endpoint, opt_in_form, seed_demo_page
from tests.reliability.harness import record_figures, wait_for
from tests.servers import LEADLINK, REPO_ROOT, free_port, serve_env
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.slow

OPT_INS = 4
FIRST_RETRY = 1.0
# Attempts refused before the receivers come back: emails see a refused connection three times,
# webhooks once, then two 503s.
EMAIL_REFUSALS = 3
WEBHOOK_REFUSALS = 1
WEBHOOK_503S = 2
# An attempt comes no earlier than its wait, and no later than the wait stretched by the jitter
# (20 %), plus the worker's 1 s poll, plus room for a loaded machine.
LATE_ALLOWANCE = 1.0 + 3.0
EARLY_ALLOWANCE = 0.3  # the log line of an attempt is written a moment after its outcome
ATTEMPT = re.compile(r"outbox (?P<kind>email|webhook) (?P<id>\d+)(?::| sent) \(?attempt (?P<n>\d+)")


@dataclass
class WebhookReceiver:
    """Refuses connections until `listen()`, then answers `status` (503, later 200); keeps the
    event id, arrival time and answer of every request."""

    port: int = field(default_factory=free_port)
    status: int = 503
    received: list[tuple[str, float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/leadlink"

    async def listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:])
                if name
            }
            await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.status
            self.received.append((headers.get("leadlink-id", ""), time.monotonic(), status))
            writer.write(
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            await writer.drain()
        finally:
            writer.close()

    def accepted(self) -> Counter[str]:
        return Counter(event for event, _, status in self.received if status == 200)


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    at: float  # the worker's log time, seconds since the epoch
    sent: bool


def attempts_in_log(log: str) -> dict[tuple[str, int], list[Attempt]]:
    """Every delivery attempt the worker logged, by (kind, outbox id), in order."""
    found: dict[tuple[str, int], list[Attempt]] = defaultdict(list)
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if match := ATTEMPT.match(entry["message"]):
            at = datetime.fromisoformat(entry["time"]).timestamp()
            sent = " sent (" in entry["message"]
            found[(match["kind"], int(match["id"]))].append(Attempt(int(match["n"]), at, sent))
    return found


def schedule_problems(attempts: list[Attempt], policy: RetryPolicy) -> list[str]:
    """How the attempts stray from the back-off: each follows the one before after the policy's
    wait for that attempt (first_delay doubled each time, stretched by the jitter)."""
    problems = []
    if [a.number for a in attempts] != list(range(1, len(attempts) + 1)):
        problems.append(f"attempts numbered {[a.number for a in attempts]}")
    for before, after in itertools.pairwise(attempts):
        wait = policy.base_delay(before.number)
        gap = after.at - before.at
        if not wait - EARLY_ALLOWANCE <= gap <= wait * (1 + policy.jitter) + LATE_ALLOWANCE:
            problems.append(f"attempt {after.number} came {gap:.2f} s after one that waits {wait}")
    return problems


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`leadlink worker`, its output (JSON lines) going to `log`."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(LEADLINK), "worker"], env=env, cwd=REPO_ROOT, stdout=output, stderr=output
        )


async def _queue_opt_ins(database_url: str, workdir: Path, webhook_url: str) -> None:
    """A handle with a page and a webhook endpoint for `lead.created`, then OPT_INS opt-ins
    through the service the form uses: each queues its email and its event."""
    engine = create_engine(make_settings(workdir, database_url))
    await seed_demo_page(engine)
    database = Database(engine)
    try:
        async with database.session() as session:
            await add_endpoint(session, webhook_url, events=("lead.created",))
            page = await session.scalar(select(Page).where(Page.slug == "demo"))
            assert page is not None
            links = LeadLinks("http://127.0.0.1:8000", LeadTokens(TEST_SECRET))
            for n in range(OPT_INS):
                form = opt_in_form(f"reader-{n}@example.com")
                await leads.submit_opt_in(session, page, form, None, links)
            await session.commit()
    finally:
        await database.dispose()


async def _outbox(database_url: str, workdir: Path) -> list[OutboxMessage]:
    engine = create_engine(make_settings(workdir, database_url))
    try:
        database = Database(engine)
        async with database.session(write=False) as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    finally:
        await engine.dispose()


async def test_messages_wait_for_receivers_that_are_down(
    empty_database_url: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    backend = "sqlite" if empty_database_url.startswith("sqlite") else "postgresql"
    smtp = SmtpServer()  # not started: connections are refused
    receiver = WebhookReceiver()
    await _queue_opt_ins(empty_database_url, tmp_path, receiver.url)
    queued = await _outbox(empty_database_url, tmp_path)
    emails = {m.id: m.payload["message_id"] for m in queued if m.kind == "email"}
    events = {m.id: m.payload["event_id"] for m in queued if m.kind == "webhook"}
    assert len(emails) == len(events) == OPT_INS

    env = serve_env(
        tmp_path,
        LEADLINK_DATABASE_URL=empty_database_url,
        LEADLINK_SECRET_KEY=TEST_SECRET,
        LEADLINK_SMTP_HOST="127.0.0.1",
        LEADLINK_SMTP_PORT=str(smtp.port),
        LEADLINK_SMTP_SECURITY="none",
        LEADLINK_WEBHOOK_ALLOW_PRIVATE="true",
        LEADLINK_OUTBOX_FIRST_RETRY_SECONDS=str(FIRST_RETRY),
        LEADLINK_LOG_FORMAT="json",
    )
    log_path = tmp_path / "worker.log"
    worker = _start_worker(env, log_path)

    def attempts() -> dict[tuple[str, int], list[Attempt]]:
        return attempts_in_log(log_path.read_text(errors="replace"))

    def each_has(kind: str, ids: dict[int, str], count: int) -> bool:
        seen = attempts()
        return all(len(seen.get((kind, message_id), [])) >= count for message_id in ids)

    try:
        await wait_for(
            lambda: each_has("webhook", events, WEBHOOK_REFUSALS),
            within=120,
            what="every webhook refused",
        )
        await receiver.listen()  # now it answers 503
        await wait_for(
            lambda: (
                sum(status == 503 for _, _, status in receiver.received) >= WEBHOOK_503S * OPT_INS
            ),
            within=60,
            what="every webhook answered 503",
        )
        receiver.status = 200
        webhooks_back_at = time.monotonic()
        await wait_for(
            lambda: each_has("email", emails, EMAIL_REFUSALS),
            within=60,
            what="every email refused",
        )
        await smtp.start()
        smtp_back_at = time.monotonic()
        await wait_for(
            lambda: len(smtp.messages) >= OPT_INS and len(receiver.accepted()) >= OPT_INS,
            within=60,
            what="every email and event delivered",
        )
        delivered_at = time.monotonic()
        await wait_for(
            lambda: _all_sent(empty_database_url, tmp_path),
            within=30,
            what="every outbox row marked sent",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(worker.wait, 30)
        finally:
            if worker.poll() is None:
                worker.kill()
            await smtp.stop()
            await receiver.close()
    log = log_path.read_text(errors="replace")
    seen = attempts_in_log(log)
    rows = {m.id: m for m in await _outbox(empty_database_url, tmp_path)}
    received_ids = Counter(str(m["Message-ID"]).strip("<>").split("@")[0] for m in smtp.messages)

    lines = [f"{'message':14} attempts (seconds after the first)"]
    for (kind, message_id), tries in sorted(seen.items()):
        offsets = ", ".join(f"{a.at - tries[0].at:.1f}{' sent' if a.sent else ''}" for a in tries)
        lines.append(f"{f'{kind} {message_id}':14} {offsets}")
    lines.append(f"emails received per Message-ID: {sorted(received_ids.values())}")
    lines.append(f"events accepted per event id: {sorted(receiver.accepted().values())}")
    back_at = min(webhooks_back_at, smtp_back_at)
    lines.append(f"from the receivers' return to the last delivery: {delivered_at - back_at:.1f} s")
    record_figures(artifacts_dir, f"receivers-down-{backend}", "\n".join(lines))

    assert worker.returncode == 0, log[-3000:]
    # Nothing sent twice: one email per message, one accepted delivery per event.
    assert received_ids == Counter(dict.fromkeys(emails.values(), 1))
    assert receiver.accepted() == Counter(dict.fromkeys(events.values(), 1))
    assert all(row.status == "sent" for row in rows.values()), rows
    # Every message waited out the refusals, then went out; each attempt on schedule.
    policies = {"email": DEFAULT_RETRY_POLICY, "webhook": WEBHOOK_RETRY_POLICY}
    for kind, ids, refused in (
        ("email", emails, EMAIL_REFUSALS),
        ("webhook", events, WEBHOOK_REFUSALS + WEBHOOK_503S),
    ):
        policy = replace(policies[kind], first_delay=FIRST_RETRY)
        for message_id in ids:
            tries = seen[(kind, message_id)]
            assert len(tries) > refused, (kind, message_id, tries)
            assert tries[-1].sent, (kind, message_id, tries)
            assert not any(a.sent for a in tries[:-1])
            assert rows[message_id].attempts == len(tries)
            assert schedule_problems(tries, policy) == [], (kind, message_id, tries)
    assert "Traceback" not in log, log[-3000:]


async def _all_sent(database_url: str, workdir: Path) -> bool:
    return all(row.status == "sent" for row in await _outbox(database_url, workdir))
