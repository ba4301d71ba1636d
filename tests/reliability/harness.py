"""The system-level fault harness: a real `leadlink serve` on a real database under load, a fault,
and the ledger of what the clients were told held against what the database holds.

`kill_round` is fault 1 (docs/reliability.md): opt-ins and one-link clicks in flight, the server
SIGKILLed at a random moment and started again on the same port and database, the load finished,
then every acknowledged opt-in looked up. The tests in this folder run it once per backend; `make
soak` (`python -m tests.reliability.soak`) runs it at ten random kill points per backend.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from app.db import create_engine
from app.delivery.models import OutboxMessage
from app.leads.models import ConsentEvent, Lead
from app.links.attribution import ATTRIBUTION_PURPOSE, read_attribution
from app.links.models import Visit
from app.links.visit_writer import VisitWriter
from app.signing import Signer
from tests.databases import make_settings
from tests.factories import seed_demo_page
from tests.reliability.load import TOKEN_FIELD, HttpConnection, Load
from tests.servers import RunningServer, serve_env, start_server

__all__ = [
    "MAX_BUFFERED_VISITS",
    "SECRET",
    "START_DEADLINE",
    "KillRound",
    "OptInTally",
    "Stored",
    "VisitTally",
    "aged_attribution_token",
    "kill_round",
    "read_stored",
    "record_figures",
    "seed",
    "server_env",
    "tally_opt_ins",
    "tally_visits",
    "wait_for",
]

SECRET = "reliability-harness-secret-key-0123456789"
# The buffer's size: no kill can lose more visits than this.
MAX_BUFFERED_VISITS: int = inspect.signature(VisitWriter).parameters["max_buffered"].default
# The kill lands at a random moment in this window after the load began (and once this much
# has been answered)...
KILL_WINDOW_SECONDS = (3.0, 6.0)
WARM_OPT_INS = 20
WARM_CLICKS = 200
# ...and the load goes on after the restart until this much more has been answered.
AFTER_OPT_INS = 20
AFTER_CLICKS = 200
LOAD_DEADLINE = 120.0
# A Python process starting on two cores shared with a dozen others takes its time.
START_DEADLINE = 90.0


def server_env(workdir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a served process under test: the database, a known secret (the test
    signs attribution tokens with it), no per-IP limit on opt-ins, delivery left to the outbox
    worker (so every queued email stays visible), and warnings only in the log (an access line
    per request would cost the loaded machine as much as the requests)."""
    env = {
        "LEADLINK_DATABASE_URL": database_url,
        "LEADLINK_SECRET_KEY": SECRET,
        "LEADLINK_OPTIN_RATE_PER_IP": "1000000/minute",
        "LEADLINK_OUTBOX_IN_PROCESS": "false",
        "LEADLINK_LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return serve_env(workdir, **env)


async def seed(database_url: str, workdir: Path) -> None:
    """Migrate, then a handle `demo` with one published page."""
    engine = create_engine(make_settings(workdir, database_url))
    try:
        await seed_demo_page(engine)
    finally:
        await engine.dispose()


async def aged_attribution_token(port: int) -> str:
    """The page's signed form field, dated 5 s back as if a person had read the page (a form
    sent within 2 s of its rendering is taken for a bot's)."""
    connection = HttpConnection(port)
    try:
        response = await connection.request("GET", "/@demo")
    finally:
        connection.close()
    found = TOKEN_FIELD.search(response.body)
    assert response.status == 200, response
    assert found is not None, response.body[:500]
    signer = Signer(SECRET, ATTRIBUTION_PURPOSE)
    values, issued = signer.unsign_fields(found.group(1).decode())
    return signer.sign_fields(values, now=issued - 5)


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database holds after the run."""

    leads: dict[str, int]  # address -> lead id
    consents: Counter[int]  # lead id -> consent records
    first_emails: Counter[int]  # lead id -> queued emails
    visit_refs: list[str]


async def read_stored(database_url: str, workdir: Path) -> Stored:
    engine = create_engine(make_settings(workdir, database_url))
    try:
        async with engine.connect() as connection:
            leads = await connection.execute(select(Lead.email, Lead.id))
            consents = await connection.execute(
                select(ConsentEvent.lead_id, func.count()).group_by(ConsentEvent.lead_id)
            )
            emails = await connection.execute(
                select(OutboxMessage.lead_id, func.count())
                .where(OutboxMessage.kind == "email", OutboxMessage.lead_id.is_not(None))
                .group_by(OutboxMessage.lead_id)
            )
            refs = await connection.scalars(select(Visit.ref))
            return Stored(
                dict(leads.all()),
                Counter(dict(consents.all())),
                Counter({lead_id: count for lead_id, count in emails if lead_id is not None}),
                list(refs),
            )
    finally:
        await engine.dispose()


@dataclass(frozen=True, slots=True)
class OptInTally:
    """Opt-ins sent, acknowledged (303) and stored, and what went wrong (each list is empty when
    the promise held: a 303 means committed, exactly once, with its consent record and email)."""

    sent: int
    acknowledged: int
    stored: int
    unanswered: int  # the connection was lost after sending: either outcome is correct
    unanswered_stored: int
    lost: list[str]  # acknowledged, not stored
    duplicates: list[str]  # more than one consent record or first email for one opt-in
    half_written: list[str]  # stored without its consent record or its first email
    unknown: list[str]  # stored, never sent

    @property
    def held(self) -> bool:
        return not (self.lost or self.duplicates or self.half_written or self.unknown)

    @property
    def acknowledged_stored(self) -> int:
        return self.acknowledged - len(self.lost)

    @property
    def acknowledged_vs_stored(self) -> str:
        return f"{self.acknowledged} / {self.acknowledged_stored}"


def tally_opt_ins(load: Load, stored: Stored, *, others: Collection[str] = ()) -> OptInTally:
    """`others`: addresses another load of the same database sent (neither ours nor unknown)."""
    sent = {record.email for record in load.opt_ins}
    acknowledged = {record.email for record in load.opt_ins if record.status == 303}
    unanswered = {record.email for record in load.opt_ins if record.status is None}
    ours = {email: lead_id for email, lead_id in stored.leads.items() if email in sent}
    return OptInTally(
        sent=len(sent),
        acknowledged=len(acknowledged),
        stored=len(ours),
        unanswered=len(unanswered),
        unanswered_stored=len(unanswered & ours.keys()),
        lost=sorted(acknowledged - ours.keys()),
        duplicates=sorted(
            email
            for email, lead_id in ours.items()
            if stored.consents[lead_id] > 1 or stored.first_emails[lead_id] > 1
        ),
        half_written=sorted(
            email
            for email, lead_id in ours.items()
            if stored.consents[lead_id] == 0 or stored.first_emails[lead_id] == 0
        ),
        unknown=sorted(set(stored.leads) - sent - set(others)),
    )


@dataclass(frozen=True, slots=True)
class VisitTally:
    """Clicks answered with a page, and which of their visits the database holds."""

    answered: int
    stored: int  # of the answered ones
    lost: int  # answered, not stored
    lost_after_restart: int  # answered by the restarted server, not stored (must be 0)
    stored_before_kill: int  # answered by the killed server and stored
    duplicates: int  # refs stored more than once
    oldest_lost_seconds: float  # how long before the kill the oldest lost visit was answered


def tally_visits(
    load: Load,
    stored: Stored,
    *,
    killed_at: float | None = None,
    restarted_at: float | None = None,
) -> VisitTally:
    """`killed_at`: when the server was killed (time.monotonic()), if it was; `restarted_at`:
    when the new one answered (a visit answered after it was never in the killed server's
    buffer)."""
    signer = Signer(SECRET, ATTRIBUTION_PURPOSE)
    answered: dict[str, float] = {}
    for record in load.clicks:
        if record.token is None:
            continue
        attribution = read_attribution(signer, record.token.decode())
        assert attribution is not None, record
        assert attribution.visit_ref, record
        answered[attribution.visit_ref] = record.answered_at
    counts = Counter(stored.visit_refs)
    lost = [at for ref, at in answered.items() if ref not in counts]
    if killed_at is None:
        killed_at = float("-inf")  # no kill: nothing may be lost, nothing was "before" it
    return VisitTally(
        answered=len(answered),
        stored=sum(1 for ref in answered if ref in counts),
        lost=len(lost),
        lost_after_restart=sum(1 for at in lost if restarted_at is not None and at > restarted_at),
        stored_before_kill=sum(
            1 for ref, at in answered.items() if ref in counts and at < killed_at
        ),
        duplicates=sum(count - 1 for count in counts.values() if count > 1),
        oldest_lost_seconds=max(0.0, killed_at - min(lost)) if lost else 0.0,
    )


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float, what: str
) -> float:
    """Poll `condition` every 10 ms until it holds; returns when (time.monotonic())."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.01)


@dataclass(frozen=True, slots=True)
class KillRound:
    """One kill -9 under load and what it cost."""

    backend: str
    kill_after: float  # seconds after the load began
    restart_seconds: float  # from the kill to the new process answering /healthz
    recovery_seconds: float  # from the kill to the first 303 of the new process
    opt_ins: OptInTally
    visits: VisitTally
    opt_in_statuses: Counter[int | None]
    click_statuses: Counter[int | None]

    def problems(self) -> list[str]:
        """What broke a promise of docs/reliability.md (empty: everything held)."""
        found = []
        tally = self.opt_ins
        for name, emails in (
            ("acknowledged but not stored", tally.lost),
            ("stored more than once", tally.duplicates),
            ("stored without its consent record or first email", tally.half_written),
            ("stored but never sent", tally.unknown),
        ):
            if emails:
                found.append(f"{len(emails)} opt-ins {name}: {emails[:5]}")
        visits = self.visits
        if visits.duplicates:
            found.append(f"{visits.duplicates} visits stored twice")
        # The bound: what the buffer holds. How many seconds of visits that is depends on how
        # busy the machine is (docs/reliability.md); a writer that stood still would lose them
        # all, and none of those answered after the restart may be missing.
        if visits.lost > MAX_BUFFERED_VISITS:
            found.append(f"{visits.lost} visits lost, more than the buffer holds")
        if not visits.stored_before_kill:
            found.append("no visit answered before the kill was written: the writer stood still")
        if visits.lost_after_restart:
            found.append(f"{visits.lost_after_restart} visits of the restarted server lost")
        errors = {status for status in (*self.opt_in_statuses, *self.click_statuses) if status}
        if unexpected := errors - {200, 303}:
            found.append(f"answers other than 200 and 303: {sorted(unexpected)}")
        return found


async def kill_round(
    database_url: str, workdir: Path, *, backend: str, rng: random.Random, label: str = "kill"
) -> KillRound:
    """Fault 1 once: `database_url` is a brand-new database of its own, `workdir` a directory
    for the logs (and the SQLite file, if that is where the URL points)."""
    await seed(database_url, workdir)
    env = server_env(workdir, database_url)
    first = await asyncio.to_thread(
        start_server, env, workdir / f"{label}-1.log", timeout=START_DEADLINE
    )
    second: RunningServer | None = None
    load = Load(first.port, await aged_attribution_token(first.port), email_prefix=label)
    load.start()
    try:
        await wait_for(
            lambda: (
                load.acknowledged_opt_ins >= WARM_OPT_INS and load.answered_clicks >= WARM_CLICKS
            ),
            within=LOAD_DEADLINE,
            what="the load's first answers",
        )
        kill_at = load.started_at + rng.uniform(*KILL_WINDOW_SECONDS)
        await asyncio.sleep(max(0.0, kill_at - time.monotonic()))
        killed_at = time.monotonic()
        first.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.process.wait)
        # The load keeps knocking while the new process starts on the same port.
        second = await asyncio.to_thread(
            start_server, env, workdir / f"{label}-2.log", port=first.port, timeout=START_DEADLINE
        )
        restarted_at = time.monotonic()
        opt_ins_then, clicks_then = load.acknowledged_opt_ins, load.answered_clicks
        recovered_at = await wait_for(
            lambda: load.acknowledged_opt_ins > opt_ins_then,
            within=LOAD_DEADLINE,
            what="a 303 from the restarted server",
        )
        await wait_for(
            lambda: (
                load.acknowledged_opt_ins >= opt_ins_then + AFTER_OPT_INS
                and load.answered_clicks >= clicks_then + AFTER_CLICKS
            ),
            within=LOAD_DEADLINE,
            what="the load after the restart",
        )
    finally:
        await load.stop()
        if second is not None:
            # A clean stop flushes the visit buffer: whatever is missing was lost to the kill.
            await asyncio.to_thread(second.stop, signal.SIGTERM, 30)
        if first.process.poll() is None:
            first.process.kill()
            await asyncio.to_thread(first.process.wait)
    stored = await read_stored(database_url, workdir)
    return KillRound(
        backend=backend,
        kill_after=killed_at - load.started_at,
        restart_seconds=restarted_at - killed_at,
        recovery_seconds=recovered_at - killed_at,
        opt_ins=tally_opt_ins(load, stored),
        visits=tally_visits(load, stored, killed_at=killed_at, restarted_at=restarted_at),
        opt_in_statuses=load.opt_in_statuses(),
        click_statuses=load.click_statuses(),
    )


def record_figures(artifacts_dir: Path, name: str, figures: str | Mapping[str, object]) -> None:
    """Print a fault's figures (a table, or one line per label) and keep them in
    test-artifacts/reliability/NAME.txt: pytest shows the print with -s, the file stays for
    people to read after the run (docs/reliability.md quotes them)."""
    if isinstance(figures, str):
        text = figures
    else:
        text = "\n".join(f"{label:44} {value}" for label, value in figures.items())
    folder = artifacts_dir / "reliability"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    print(f"\n{name}:\n{text}")
