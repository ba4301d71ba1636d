"""Several replicas for real: two `leadlink serve` and two `leadlink worker` processes on one
PostgreSQL database, behind a real HAProxy started with a generated configuration, sharing their
rate limits through the local Redis; an SMTP server (aiosmtpd) and a webhook receiver collect
what the workers deliver.

The proxy connects from 127.0.0.2 and the replicas trust only that address
(`LEADLINK_TRUSTED_PROXIES`); clients connect from other loopback addresses, so each of them is
a client of its own as far as the proxy and leadlink can tell (Linux routes all of 127.0.0.0/8
to the loopback interface). `Cluster` is used as `async with Cluster.start(...) as cluster:`.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import create_engine
from app.delivery.models import OutboxMessage
from app.links.attribution import ATTRIBUTION_PURPOSE
from app.signing import Signer
from tests.databases import IN_CI, TEST_SECRET, FreshDatabases, make_settings
from tests.factories import add_endpoint, seed_demo_page
from tests.servers import (
    LEADLINK,
    REPO_ROOT,
    RawConnection,
    RunningServer,
    free_port,
    serve_env,
    start_server,
)
from tests.smtp_server import SmtpServer
from tests.waiting import eventually, wait_until
from tests.webhooks.webhook_helpers import Receiver

__all__ = [
    "PROXY_SOURCE",
    "Cluster",
    "HAProxy",
    "LogLine",
    "haproxy_config",
    "haproxy_or_skip",
    "portable_lines",
    "redis_or_skip",
]

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REDIS_URL = os.environ.get("LEADLINK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PROXY_SOURCE = "127.0.0.2"  # the address HAProxy connects to the replicas from
CHECK_INTERVAL_MS = 500
DRAIN_SECONDS = 3.0  # longer than the proxy needs to see a replica not ready (2 checks 0.5 s apart)
STARTUP_TIMEOUT = 60.0
TOKEN_FIELD = re.compile(r'name="a" value="([^"]+)"')
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"  # noqa: E501


def haproxy_or_skip() -> str:
    """The HAProxy binary; without it the test is skipped, and with CI=true it fails."""
    if os.access(HAPROXY, os.X_OK):
        return HAPROXY
    reason = "HAProxy is not installed (apt-get install haproxy); the replica tests need it"
    if IN_CI:
        pytest.fail(reason + " (CI=true: .ci/run installs it)")
    pytest.skip(reason)


def redis_or_skip() -> str:
    """The local Redis (LEADLINK_TEST_REDIS_URL); skipped without it, failed with CI=true."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        reason = f"no Redis at LEADLINK_TEST_REDIS_URL ({REDIS_URL}): {exc}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return REDIS_URL


def forget_redis_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- HAProxy --------------------------------------------------------------------------------------


def haproxy_config(
    *, port: int, servers: dict[str, int], stats_socket: Path, check_interval_ms: int
) -> str:
    """The configuration docs/production.md shows, with this run's ports and files."""
    lines = [
        "global",
        f"    stats socket {stats_socket} mode 600 level admin",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 60s",
        "    timeout check 5s",
        "    retries 3",
        "    option redispatch 1",
        "",
        "frontend web",
        f"    bind 127.0.0.1:{port}",
        "    option forwardfor",
        "    default_backend leadlink",
        "",
        "backend leadlink",
        "    balance roundrobin",
        "    option http-server-close",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        f"    source {PROXY_SOURCE}",
        f"    default-server inter {check_interval_ms}ms fall 2 rise 2",
        *(
            f"    server {name} 127.0.0.1:{server_port} check"
            for name, server_port in servers.items()
        ),
        "",
    ]
    return "\n".join(lines)


MACHINE_SPECIFIC = ("bind ", "server ", "source ")


def portable_lines(config: str) -> list[str]:
    """A configuration's lines without the ones naming this machine's addresses and ports."""
    lines = [line.strip() for line in config.splitlines()]
    return [line for line in lines if line and not line.startswith(MACHINE_SPECIFIC)]


@dataclass(frozen=True)
class LogLine:
    """One request as HAProxy's `option httplog` logs it."""

    client: str
    server: str
    status: int
    method: str
    path: str


_LOG_LINE = re.compile(
    r"^(?P<client>[\d.]+):\d+ \[[^\]]+\] \S+ \S+/(?P<server>\S+) \S+ (?P<status>-?\d+) .*?"
    r'"(?P<method>[A-Z]+) (?P<path>\S+)'
)


@dataclass
class HAProxy:
    process: subprocess.Popen[bytes]
    port: int
    stats_socket: Path
    log: Path

    @classmethod
    def start(cls, work_dir: Path, servers: dict[str, int]) -> HAProxy:
        binary = haproxy_or_skip()
        port = free_port()
        # A Unix socket's path must fit in 108 bytes, which a deep temporary directory may not.
        stats_socket = Path(tempfile.mkdtemp(prefix="haproxy-")) / "stats.sock"
        config = work_dir / "haproxy.cfg"
        config.write_text(
            haproxy_config(
                port=port,
                servers=servers,
                stats_socket=stats_socket,
                check_interval_ms=CHECK_INTERVAL_MS,
            )
        )
        log = work_dir / "haproxy.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [binary, "-db", "-f", str(config)], stdout=output, stderr=subprocess.STDOUT
            )
        proxy = cls(process, port, stats_socket, log)
        try:
            wait_until(proxy._listening, timeout=20, what=f"HAProxy listening on {port}")
        except AssertionError:
            proxy.stop()
            raise AssertionError(f"HAProxy did not start:\n{log.read_text()[-3000:]}") from None
        return proxy

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"HAProxy exited:\n{self.log.read_text()[-3000:]}")
        if not self.stats_socket.exists():
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def command(self, line: str) -> str:
        """One command on the stats socket (`show stat`, `show info`, …) and its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.stats_socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[tuple[str, str], dict[str, str]]:
        """`show stat` by (proxy, server): FRONTEND and BACKEND rows and one per server."""
        text = self.command("show stat").lstrip("# ")
        return {(row["pxname"], row["svname"]): row for row in csv.DictReader(io.StringIO(text))}

    def server_status(self, name: str) -> str:
        return self.stats()[("leadlink", name)]["status"]

    def wait_until_status(self, name: str, status: str, timeout: float = 30) -> None:
        wait_until(
            lambda: self.server_status(name) == status,
            timeout=timeout,
            interval=0.05,
            what=f"HAProxy sees server {name} {status}",
        )

    def answers_5xx(self) -> int:
        """5xx responses the proxy sent its clients (its own 502/503/504 included)."""
        return int(self.stats()[("web", "FRONTEND")]["hrsp_5xx"] or 0)

    def log_lines(self) -> list[LogLine]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = _LOG_LINE.match(line)
            if match:
                found.append(
                    LogLine(
                        match["client"],
                        match["server"],
                        int(match["status"]),
                        match["method"],
                        match["path"],
                    )
                )
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)  # soft stop: finish what is in flight
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.stats_socket.parent, ignore_errors=True)


# --- leadlink processes ---------------------------------------------------------------------------


@dataclass
class Replica:
    """One `leadlink serve` on a port of its own, restartable on that same port."""

    name: str
    port: int
    env: dict[str, str]
    work_dir: Path
    server: RunningServer | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = self.work_dir / f"serve-{self.name}-{self.starts}.log"
        self.server = start_server(self.env, log, port=self.port, timeout=STARTUP_TIMEOUT)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.server is not None
        return self.server.stop(sig, timeout=30)

    def output(self) -> str:
        return self.server.output() if self.server else ""


@dataclass
class Worker:
    """One `leadlink worker` (outbox delivery)."""

    name: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [str(LEADLINK), "worker"],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: "outbox worker started" in self.output() or self._exited(),
            timeout=STARTUP_TIMEOUT,
            what=f"worker {self.name} started",
        )
        if self._exited():
            raise AssertionError(f"worker {self.name} exited:\n{self.output()[-3000:]}")

    def _exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"worker {self.name} ignored SIGTERM:\n{self.output()[-3000:]}"
            ) from None


# --- the whole cluster ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw: statuses per kind of request, and requests that got no answer."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def count(self, kind: str, status: int) -> None:
        self.statuses[(kind, status)] += 1

    def of(self, kind: str, status: int | None = None) -> int:
        return sum(
            n
            for (k, s), n in self.statuses.items()
            if k == kind and (status is None or s == status)
        )

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + len(self.failures)

    @property
    def answered_5xx(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)


@dataclass(frozen=True)
class Deliveries:
    """The outbox as stored, against what the SMTP server and the webhook receiver got."""

    unsent: int  # outbox rows not (yet) sent
    emails_queued: frozenset[str]  # Message-ID of every email row
    emails_received: Counter[str]  # Message-ID of every message the SMTP server accepted
    webhooks_queued: frozenset[str]  # event id of every webhook row
    webhooks_received: Counter[str]  # Leadlink-Id of every call the receiver got
    created_events: int  # webhook rows announcing lead.created

    @property
    def complete(self) -> bool:
        return (
            self.unsent == 0
            and set(self.emails_received) == self.emails_queued
            and set(self.webhooks_received) == self.webhooks_queued
        )

    @property
    def sent_twice(self) -> list[str]:
        received = self.emails_received + self.webhooks_received
        return sorted(key for key, times in received.items() if times > 1)


_MESSAGE_ID = re.compile(rb"(?im)^Message-ID: <([0-9a-f]{32})@")
_OUTBOX_COUNTS = text(
    "SELECT kind, count(*) FROM outbox GROUP BY kind"
    " UNION ALL SELECT 'unsent', count(*) FROM outbox WHERE status <> 'sent'"
)


@dataclass
class Cluster:
    database_url: str
    engine: AsyncEngine
    smtp: SmtpServer
    receiver: Receiver
    replicas: dict[str, Replica]
    workers: list[Worker]
    proxy: HAProxy
    form_token: str = ""
    _sources: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 22)))

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls, fresh_databases: FreshDatabases, work_dir: Path, **settings: str
    ) -> AsyncIterator[Cluster]:
        """Everything up and the proxy seeing both replicas ready; all of it stopped after.
        `settings` are LEADLINK_* variables for every process."""
        haproxy_or_skip()
        redis_url = redis_or_skip()
        url = await fresh_databases.create_postgres_database(migrated=False)
        engine = create_engine(make_settings(work_dir, url))
        smtp = SmtpServer()
        receiver = Receiver()
        hooks = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        receiver.url = f"http://127.0.0.1:{hooks.sockets[0].getsockname()[1]}/hooks"
        prefix = f"leadlink-test-{uuid.uuid4().hex[:12]}:"
        replicas: dict[str, Replica] = {}
        workers: list[Worker] = []
        proxy: HAProxy | None = None
        try:
            await seed_demo_page(engine)
            async with AsyncSession(engine) as session:
                await add_endpoint(session, receiver.url)  # every event type
                await session.commit()
            await smtp.start()
            env = serve_env(
                work_dir,
                LEADLINK_DATABASE_URL=url,
                LEADLINK_SECRET_KEY=TEST_SECRET,
                LEADLINK_ENV="production",
                LEADLINK_REDIS_URL=redis_url,
                LEADLINK_REDIS_KEY_PREFIX=prefix,
                LEADLINK_TRUSTED_PROXIES=PROXY_SOURCE,
                LEADLINK_SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS),
                LEADLINK_OUTBOX_IN_PROCESS="false",
                LEADLINK_WEBHOOK_ALLOW_PRIVATE="true",
                LEADLINK_SMTP_HOST="127.0.0.1",
                LEADLINK_SMTP_PORT=str(smtp.port),
                LEADLINK_SMTP_SECURITY="none",
                LEADLINK_MAIL_FROM="leadlink <noreply@leadlink.test>",
                LEADLINK_LOG_LEVEL="WARNING",
            )
            env.update(settings)
            replicas = {name: Replica(name, free_port(), env, work_dir) for name in ("a", "b")}
            workers = [Worker(f"w{n}", env, work_dir / f"worker-{n}.log") for n in (1, 2)]
            starts = [replica.start for replica in replicas.values()]
            starts += [worker.start for worker in workers]
            await asyncio.gather(*(asyncio.to_thread(start) for start in starts))
            ports = {name: replica.port for name, replica in replicas.items()}
            proxy = await asyncio.to_thread(HAProxy.start, work_dir, ports)
            for name in replicas:
                await asyncio.to_thread(proxy.wait_until_status, name, "UP")
            cluster = cls(url, engine, smtp, receiver, replicas, workers, proxy)
            cluster.form_token = await asyncio.to_thread(cluster.aged_form_token)
            yield cluster
        finally:
            if proxy is not None:
                await asyncio.to_thread(proxy.stop)
            stops: list[Callable[[], int]] = [
                replica.stop
                for replica in replicas.values()
                if replica.server and replica.server.process.poll() is None
            ]
            stops += [w.stop for w in workers if w.process and w.process.poll() is None]
            await asyncio.gather(
                *(asyncio.to_thread(stop) for stop in stops), return_exceptions=True
            )
            await smtp.stop()
            hooks.close()
            await engine.dispose()
            await fresh_databases.drop_postgres_database(url)
            await asyncio.to_thread(forget_redis_keys, redis_url, prefix)

    # -- clients --

    def new_source(self) -> str:
        """A loopback address no client of this cluster has used yet: a new visitor."""
        n = next(self._sources)
        return f"127.{100 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"

    def aged_form_token(self) -> str:
        """The demo page's signed form field, dated 5 s ago as if a person had read the page
        (a visit of its own)."""
        page = httpx.get(
            f"http://127.0.0.1:{self.proxy.port}/@demo", headers={"User-Agent": BROWSER}
        )
        found = TOKEN_FIELD.search(page.text)
        assert found is not None, page.text[:500]
        signer = Signer(TEST_SECRET, ATTRIBUTION_PURPOSE)
        values, issued = signer.unsign_fields(found.group(1))
        return signer.sign_fields(values, now=issued - 5)

    async def opt_in(
        self, email: str, *, source: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        """One opt-in through the proxy, on a connection of its own from `source`."""
        form = urlencode({"a": self.form_token, "email": email, "consent": "yes"})
        connection = RawConnection(self.proxy.port, user_agent=BROWSER, source=source)
        try:
            status, response_headers, _ = await connection.request(
                "POST",
                "/p/demo",
                body=form.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
            )
        finally:
            await connection.close()
        return status, response_headers

    # -- what was stored and delivered --

    async def count(self, sql: str) -> int:
        async with self.engine.connect() as connection:
            return int((await connection.execute(text(sql))).scalar_one())

    async def deliveries(self) -> Deliveries:
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.payload)
                )
            ).all()
        emails = frozenset(row.payload["message_id"] for row in rows if row.kind == "email")
        hooks = [row.payload for row in rows if row.kind == "webhook"]
        contents = [content for _, _, content in list(self.smtp.envelopes)]
        received_ids = (_MESSAGE_ID.search(content) for content in contents)
        return Deliveries(
            unsent=sum(1 for row in rows if row.status != "sent"),
            emails_queued=emails,
            emails_received=Counter(
                found.group(1).decode() if found else "?" for found in received_ids
            ),
            webhooks_queued=frozenset(payload["event_id"] for payload in hooks),
            webhooks_received=Counter(
                r.headers.get("Leadlink-Id", "?") for r in self.receiver.requests
            ),
            created_events=sum(1 for payload in hooks if payload["event_type"] == "lead.created"),
        )

    async def delivered(self, within: float = 60.0) -> Deliveries:
        """The deliveries once the outbox is all sent and as many messages arrived as it holds
        (fails after `within` seconds); whether they are the right ones is the caller's check."""

        async def arrived() -> bool:
            # Cheap counts while waiting; the payloads are read once, at the end.
            async with self.engine.connect() as connection:
                rows = (await connection.execute(_OUTBOX_COUNTS)).all()
            counts = {str(row[0]): int(row[1]) for row in rows}
            return counts.get("unsent", 0) == 0 and (
                len(self.smtp.envelopes) >= counts.get("email", 0)
                and len(self.receiver.requests) >= counts.get("webhook", 0)
            )

        await eventually(arrived, within=within, interval=0.2, what="every message delivered")
        return await self.deliveries()
