"""The benchmark behind ``make bench``: the bare ASGI ceiling, then leadlink, driven by wrk.

    python -m bench.run [--duration 10] [--connections 32] [--latency-connections 1]
                        [--scenario NAME ...] [--database sqlite|postgresql|both]
                        [--scale N] [--growth]

Both servers run with the same uvicorn settings (uvloop, httptools with `leadlink serve`'s
one-write responses, 1 worker, no access log) pinned
to one core; wrk runs on the other. Absolute numbers drift between machines, so every row is also
stated as a ratio to the bare endpoint measured in the same run at the same number of connections.
The table, the targets of the issues (met / not met) and the seeding times are printed and written
to ``var/bench/last.json``.

Throughput and latency are measured apart. Throughput scenarios (the one link, the opt-in POST)
keep ``--connections`` (32) busy: requests/s is what they are about. Latency scenarios (the
reports, the leads pages, the HTML report) use ``--latency-connections`` (1): their targets are
per-request times, and one uvicorn worker answers one request at a time, so with 32 clients the
p95 would be ~31 other requests' queueing, not the request's own time.

The report, leads and admin scenarios run on seeded data: ``--scale N`` visits and N / 10 leads
over 365 days (``bench.seed``; default 200,000 visits; the issues' full scale is 10,000,000 visits
and 1,000,000 leads). ``--growth`` seeds two databases per engine, at scale / 10 and at scale,
measures the chosen scenarios (default: the reports) on both and prints the p95 ratio. The CSV
export is not a wrk scenario: it is downloaded once, streamed, while the server's RSS is sampled.

``--scenario replicas`` (PostgreSQL only; chosen alone, it picks PostgreSQL) is not one server
under wrk: it serves the one-link page from one process, then from two on the same database,
with wrk's two threads spread over them and nothing pinned, and prints the ratio
(``bench.replicas``).

Adding a scenario: append a ``Scenario`` to ``SCENARIOS`` (``--scenario NAME`` then picks it).
``method``, ``path``, ``headers`` and ``body`` describe one request; ``wrk_lua`` is extra wrk Lua,
e.g. a ``request()`` that varies it (the global ``bench_run`` is a token unique to each wrk run,
warm-up included, so generated values never repeat); ``setup(target)`` runs before the warm-up
and may return a ``RequestChange`` (a path or headers known only then: a cursor, a cookie);
``check(target, runs)`` runs after the measured run, returning a problem sentence or ``None``::

    Scenario("one-link page", "GET", "/@demo", {"User-Agent": "... Instagram 309.0 ..."}, "")
    Scenario(
        "opt-in POST", "POST", "/p/demo", {"Content-Type": "application/x-www-form-urlencoded"},
        "", wrk_lua='n = 0 request = function() n = n + 1 return wrk.format(nil, nil, nil,'
        ' "email=" .. bench_run .. "-" .. n .. "@example.com") end', check=leads_match_responses,
    )

``latency=True`` makes it a latency scenario, ``p95_target_ms`` adds a line to the targets,
``seeded=True`` asks for the seeded data. A check reads ``target.database_url``;
``runs.responses`` counts the warm-up too, and wrk abandons up to ``--connections`` requests still
in flight at the end of each run, which the server may still complete: allow that much slack when
comparing row counts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

from bench import admin, one_link, opt_in
from bench import leads as lead_bench
from bench import replicas as replica_bench
from bench import reports as report_bench
from bench.databases import DatabaseKind, PostgresUnavailableError, bench_database
from bench.processes import (
    HOST,
    REPO_ROOT,
    CorePinning,
    HarnessError,
    ServerError,
    core_pinning,
    free_port,
    run_preparation,
    running_server,
)
from bench.replicas import ReplicaScaling
from bench.results import FULL_SCALE, Report, Row, StreamRow, print_report, write_json
from bench.wrk import P95_LUA, WrkResult, ensure_wrk, run_wrk

__all__ = [
    "SCENARIOS",
    "STREAMS",
    "RequestChange",
    "Scenario",
    "StreamScenario",
    "Target",
    "WrkRuns",
    "main",
    "wrk_lua_script",
]

RESULT_PATH = REPO_ROOT / "var" / "bench" / "last.json"
WARMUP_SECONDS = 2
# Kept identical to the uvicorn.run() arguments of `leadlink serve` (app/cli/serving.py), so the
# ratio measures leadlink rather than a difference in server options.
UVICORN_SETTINGS = (
    "--loop", "uvloop", "--http", "app.http_protocol:CoalescingHttpToolsProtocol",
    "--no-access-log", "--log-level", "warning", "--workers", "1", "--no-proxy-headers",
    "--no-server-header",
)  # fmt: skip
# The p95 targets of issues 5 and 6 (at FULL_SCALE); the other targets are in bench.results.
REPORT_P95_MS = 15.0
LEADS_PAGE_P95_MS = 20.0
ADMIN_REPORT_P95_MS = 50.0
ADMIN_LEADS_P95_MS = 50.0  # issue 13
EXPORT_PEAK_RSS_MB = 200.0


# --- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A running server as a scenario's setup and check see it."""

    base_url: str
    database_url: str | None  # None for the bare endpoint, which has no database
    pid: int  # the serving process, for its memory
    secret_key: str | None = None  # what the server signs cursors and cookies with


@dataclass(frozen=True)
class WrkRuns:
    """Both wrk runs of a scenario: the warm-up also reaches the server, so checks need it."""

    warmup: WrkResult
    measured: WrkResult

    @property
    def responses(self) -> int:
        """Responses received over both runs (wrk drops requests still in flight at the end)."""
        return self.warmup.requests + self.measured.requests


@dataclass(frozen=True)
class RequestChange:
    """What a setup learnt that the request needs: another path, more headers."""

    path: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


Setup = Callable[[Target], RequestChange | None]
Check = Callable[[Target, WrkRuns], str | None]


@dataclass(frozen=True)
class Scenario:
    """One request shape to hammer; see the module docstring for how to add one."""

    name: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: str
    wrk_lua: str | None = None
    setup: Setup | None = None
    check: Check | None = None
    latency: bool = False
    p95_target_ms: float | None = None
    seeded: bool = False

    def changed(self, change: RequestChange | None) -> Scenario:
        if change is None:
            return self
        headers = {**self.headers, **change.headers}
        return replace(self, path=change.path or self.path, headers=headers)


@dataclass(frozen=True)
class StreamScenario:
    """One download measured once, outside wrk: rows, throughput and the server's peak RSS."""

    name: str
    download: Callable[[Target], lead_bench.ExportResult]
    peak_rss_target_mb: float


BARE = Scenario("bare", "GET", "/", {}, "")

_page_check = one_link.VisitRowsCheck("one-link page")
_redirect_check = one_link.VisitRowsCheck("one-link redirect")
_opt_in_check = opt_in.OptInCheck()


def _setup_redirect(target: Target) -> None:
    one_link.create_redirect_handle(target.database_url)
    _redirect_check.setup(target.database_url)


class _DeepPage:
    """The deep page's path, known once the server's data and secret are."""

    def __init__(self) -> None:
        self.path = lead_bench.FIRST_PAGE_PATH

    def setup(self, target: Target) -> RequestChange:
        if target.database_url is None or target.secret_key is None:
            raise HarnessError("the deep page needs the server's database and secret key")
        self.path = lead_bench.deep_page_path(target.database_url, target.secret_key)
        return RequestChange(path=self.path)

    def check(self, target: Target, runs: WrkRuns) -> str | None:
        del runs
        return lead_bench.check_page(target.base_url, self.path, report_bench.HEADERS)


_deep_page = _DeepPage()


def _admin_leads(name: str, path: str) -> Scenario:
    """A signed-in leads-table page (issue 13), checked for a full page afterwards."""
    table = admin.LeadsTable(path)
    return Scenario(
        name,
        "GET",
        path,
        {},
        "",
        setup=lambda target: RequestChange(headers=table.setup(target.base_url)),
        check=lambda target, runs: table.check(target.base_url),
        latency=True,
        p95_target_ms=ADMIN_LEADS_P95_MS,
        seeded=True,
    )


def _check_first_page(target: Target, runs: WrkRuns) -> str | None:
    del runs
    return lead_bench.check_page(target.base_url, lead_bench.FIRST_PAGE_PATH, report_bench.HEADERS)


ONE_LINK_PAGE = Scenario(
    "one-link page",
    "GET",
    "/@demo",
    {"User-Agent": one_link.INSTAGRAM_ANDROID_UA},
    "",
    setup=lambda target: _page_check.setup(target.database_url),
    check=lambda target, runs: _page_check.check(target.database_url, runs.responses),
)

SCENARIOS: list[Scenario] = [
    Scenario("healthz", "GET", "/healthz", {}, ""),
    ONE_LINK_PAGE,
    Scenario(
        "one-link redirect",
        "GET",
        f"/@{one_link.REDIRECT_HANDLE}",
        {"User-Agent": one_link.INSTAGRAM_ANDROID_UA},
        "",
        setup=_setup_redirect,
        check=lambda target, runs: _redirect_check.check(target.database_url, runs.responses),
    ),
    Scenario(
        "opt-in POST",
        "POST",
        "/p/demo",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "",
        wrk_lua=opt_in.LUA,
        setup=lambda target: _opt_in_check.setup(target.base_url, target.database_url),
        check=lambda target, runs: _opt_in_check.check(target.database_url, runs.responses),
    ),
    *(
        Scenario(
            name,
            "GET",
            path,
            report_bench.HEADERS,
            "",
            setup=lambda target: report_bench.warm_up(target.base_url),
            latency=True,
            p95_target_ms=REPORT_P95_MS,
            seeded=True,
        )
        for name, path in report_bench.REQUESTS
    ),
    Scenario(
        lead_bench.FIRST_PAGE_SCENARIO,
        "GET",
        lead_bench.FIRST_PAGE_PATH,
        report_bench.HEADERS,
        "",
        check=_check_first_page,
        latency=True,
        p95_target_ms=LEADS_PAGE_P95_MS,
        seeded=True,
    ),
    Scenario(
        lead_bench.DEEP_PAGE_SCENARIO,
        "GET",
        lead_bench.FIRST_PAGE_PATH,
        report_bench.HEADERS,
        "",
        setup=_deep_page.setup,
        check=_deep_page.check,
        latency=True,
        p95_target_ms=LEADS_PAGE_P95_MS,
        seeded=True,
    ),
    Scenario(
        "admin report 365d",
        "GET",
        admin.REPORT_PATH,
        {},
        "",
        setup=lambda target: RequestChange(headers=admin.sign_in(target.base_url)),
        latency=True,
        p95_target_ms=ADMIN_REPORT_P95_MS,
        seeded=True,
    ),
    _admin_leads("admin leads first page", admin.LEADS_PATH),
    _admin_leads("admin leads filtered page", admin.LEADS_FILTERED_PATH),
]


def _download_export(target: Target) -> lead_bench.ExportResult:
    if target.database_url is None:
        raise HarnessError("the export needs the server's database")
    return lead_bench.download_export(
        target.base_url, target.database_url, target.pid, dict(report_bench.HEADERS)
    )


STREAMS: list[StreamScenario] = [
    StreamScenario("leads CSV export", _download_export, EXPORT_PEAK_RSS_MB),
]
REPORT_SCENARIOS = frozenset(name for name, _path in report_bench.REQUESTS)


def _lua_string(text: str) -> str:
    """A Lua string literal; bytes outside printable ASCII become decimal escapes."""
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte}"
        for byte in text.encode()
    )
    return f'"{escaped}"'


def wrk_lua_script(scenario: Scenario, run_token: str) -> str:
    """The Lua that makes wrk send the scenario's request and print the run's p95."""
    lines = []
    if scenario.method != "GET":
        lines.append(f"wrk.method = {_lua_string(scenario.method)}")
    if scenario.body:
        lines.append(f"wrk.body = {_lua_string(scenario.body)}")
    lines.extend(
        f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}"
        for name, value in scenario.headers.items()
    )
    if scenario.wrk_lua:
        lines.extend((f"bench_run = {_lua_string(run_token)}", scenario.wrk_lua))
    return "".join(line + "\n" for line in lines) + P95_LUA


# --- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What this run measures and how, from the command line."""

    duration: int
    connections: int
    latency_connections: int
    scenarios: tuple[Scenario, ...]
    streams: tuple[StreamScenario, ...]
    databases: tuple[DatabaseKind, ...]
    scale: int
    growth: bool
    target_cmd: str | None
    pinning: CorePinning
    replicas: bool = False  # the replicas scenario (PostgreSQL only)

    def connections_for(self, scenario: Scenario) -> int:
        return self.latency_connections if scenario.latency else self.connections

    @property
    def scales(self) -> tuple[int, ...]:
        """The data sizes each database is measured at."""
        return (max(1, self.scale // 10), self.scale) if self.growth else (self.scale,)

    @property
    def needs_seed(self) -> bool:
        return bool(self.streams) or any(scenario.seeded for scenario in self.scenarios)


def _write_lua_script(scenario: Scenario, work_dir: Path) -> Path:
    script = work_dir / (re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()) + ".lua")
    script.write_text(wrk_lua_script(scenario, run_token=secrets.token_hex(4)))
    return script


def measure(
    scenario: Scenario, target: Target, connections: int, options: Options, work_dir: Path
) -> tuple[WrkResult, str | None]:
    """Warm up, measure, then run the scenario's check; returns the result and any problem."""
    print(
        f"  {scenario.name} (-c{connections}): {WARMUP_SECONDS} s warm-up + {options.duration} s",
        file=sys.stderr,
    )
    request = scenario.changed(scenario.setup(target) if scenario.setup else None)
    url = target.base_url + request.path

    def drive(seconds: int) -> WrkResult:
        script = _write_lua_script(request, work_dir)
        return run_wrk(
            url, connections=connections, seconds=seconds, script=script, pinning=options.pinning
        )

    runs = WrkRuns(warmup=drive(WARMUP_SECONDS), measured=drive(options.duration))
    problem = scenario.check(target, runs) if scenario.check else None
    return runs.measured, problem


# --- the two servers ----------------------------------------------------------------------------


def leadlink_command() -> str:
    """The `leadlink` script of the environment running this harness, else the one on PATH."""
    beside_python = Path(sys.executable).parent / "leadlink"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("leadlink")
    if found is None:
        raise HarnessError("the `leadlink` command is not installed (pip install -e . first)")
    return found


def leadlink_env(data_dir: Path, database_url: str, secret_key: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEADLINK_DATA_DIR": str(data_dir),
        "LEADLINK_DATABASE_URL": database_url,
        "LEADLINK_SECRET_KEY": secret_key,
        "LEADLINK_LOG_LEVEL": "WARNING",
        "LEADLINK_ENV": "development",
        **opt_in.BENCH_RATE_LIMITS,
        **opt_in.BENCH_OUTBOX,
    }


def bare_argv(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "bench.bare:app", "--host", HOST, "--port", str(port),
        *UVICORN_SETTINGS,
    ]  # fmt: skip


def leadlink_serve_argv(port: int, target_cmd: str | None) -> list[str]:
    if target_cmd:
        return shlex.split(target_cmd.format(python=sys.executable, host=HOST, port=port))
    return [leadlink_command(), "serve", "--host", HOST, "--port", str(port)]


def prepare_leadlink(env: Mapping[str, str], scale: int | None) -> str | None:
    """Migrate the fresh database and seed the demo data the scenarios request; with a `scale`,
    also `scale` visits and a tenth as many leads, and the owner who signs in to /admin.
    Returns the seeding's report line."""
    leadlink = leadlink_command()
    run_preparation("leadlink migrate", [leadlink, "migrate"], env)
    run_preparation("leadlink demo", [leadlink, "demo"], env)
    if scale is None:
        return None
    argv = admin.create_owner_argv(leadlink)
    run_preparation("leadlink users create", argv, env, stdin=admin.owner_password() + "\n")
    argv = report_bench.seed_argv(scale)
    seeded = run_preparation("bench data", argv, env, report_bench.SEED_TIMEOUT_SECONDS).strip()
    print(f"  {seeded}", file=sys.stderr)
    return seeded


def to_row(
    database: PreparedDatabase | None, scenario: str, connections: int, result: WrkResult,
    *, bare_rps: float | None,
) -> Row:  # fmt: skip
    return Row(
        database=database.kind if database else None,
        scale=database.scale if database else None,
        scenario=scenario,
        connections=connections,
        requests_per_sec=result.requests_per_sec,
        p50_ms=result.p50_ms,
        p95_ms=result.p95_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        ratio_to_bare=result.requests_per_sec / bare_rps if bare_rps else None,
    )


def measure_bare(options: Options, work_dir: Path, report: Report) -> dict[int, float]:
    """Measure the bare endpoint at every connection count the scenarios use; returns its
    requests/s per count, the denominators of the ratios."""
    print("bare endpoint", file=sys.stderr)
    counts = sorted({options.connections_for(scenario) for scenario in options.scenarios})
    port = free_port()
    argv = [*options.pinning.server, *bare_argv(port)]
    bare_rps: dict[int, float] = {}
    with running_server("bare", argv, port, os.environ, work_dir) as server:
        target = Target(server.base_url, None, server.pid)
        for connections in counts:
            result, _ = measure(BARE, target, connections, options, work_dir)
            bare_rps[connections] = result.requests_per_sec
            report.rows.append(
                to_row(None, BARE.name, connections, result, bare_rps=result.requests_per_sec)
            )
    return bare_rps


@dataclass(frozen=True)
class PreparedDatabase:
    """A migrated (and perhaps seeded) database and the environment pointing leadlink at it."""

    kind: DatabaseKind
    scale: int | None  # visits seeded, None when no scenario needs the seeded data
    url: str
    env: dict[str, str]
    secret_key: str
    work_dir: Path


def prepare_database(
    kind: DatabaseKind, scale: int | None, options: Options, cleanup: contextlib.ExitStack,
    *, work_dir: Path, report: Report,
) -> PreparedDatabase:  # fmt: skip
    print(
        f"preparing leadlink on {kind}" + (f" ({scale:,} visits)" if scale else ""), file=sys.stderr
    )
    work_dir.mkdir()
    url = cleanup.enter_context(bench_database(kind, work_dir))
    data_dir = work_dir / "data"
    data_dir.mkdir()
    secret_key = secrets.token_urlsafe(48)
    env = leadlink_env(data_dir, url, secret_key)
    if options.target_cmd is None:
        seeded = prepare_leadlink(env, scale)
        if seeded:
            report.seeding.append(f"{kind}: {seeded}")
    return PreparedDatabase(kind, scale, url, env, secret_key, work_dir)


def measure_streams(
    database: PreparedDatabase, target: Target, options: Options, report: Report
) -> None:
    for stream in options.streams:
        print(f"  {stream.name}: one streamed download", file=sys.stderr)
        result = stream.download(target)
        report.streams.append(
            StreamRow(
                database=database.kind,
                scale=database.scale,
                scenario=stream.name,
                rows=result.rows,
                seconds=result.seconds,
                megabytes=result.megabytes,
                megabytes_per_sec=result.megabytes_per_sec,
                rss_before_mb=result.rss_before_mb,
                peak_rss_mb=result.peak_rss_mb,
                peak_rss_target_mb=stream.peak_rss_target_mb,
            )
        )
        if result.problem:
            report.problems.append(f"{database.kind} / {stream.name}: {result.problem}")


def measure_leadlink(
    database: PreparedDatabase, options: Options, bare_rps: Mapping[int, float], report: Report
) -> None:
    print(f"leadlink on {database.kind}", file=sys.stderr)
    port = free_port()
    argv = [*options.pinning.server, *leadlink_serve_argv(port, options.target_cmd)]
    name = f"leadlink-{database.kind}"
    with running_server(name, argv, port, database.env, database.work_dir) as server:
        target = Target(server.base_url, database.url, server.pid, database.secret_key)
        for scenario in options.scenarios:
            connections = options.connections_for(scenario)
            result, problem = measure(scenario, target, connections, options, database.work_dir)
            rps = bare_rps.get(connections)
            report.rows.append(to_row(database, scenario.name, connections, result, bare_rps=rps))
            if problem:
                report.problems.append(f"{database.kind} / {scenario.name}: {problem}")
        measure_streams(database, target, options, report)


def _drive_replicas(
    ports: Sequence[int], options: Options, work_dir: Path, seconds: int
) -> WrkResult:
    """wrk's threads spread over the replicas' ports (`bench.replicas`), nothing pinned."""
    lua = replica_bench.thread_addresses_lua(ports)
    request = replace(ONE_LINK_PAGE, name="replicas", wrk_lua=lua, setup=None, check=None)
    return run_wrk(
        f"http://{HOST}:{ports[0]}{request.path}",
        connections=options.connections,
        seconds=seconds,
        script=_write_lua_script(request, work_dir),
        pinning=CorePinning((), ()),
        threads=replica_bench.WRK_THREADS,
    )


def measure_replicas(database: PreparedDatabase, options: Options, report: Report) -> None:
    """The one-link page from one serving process, then from two on the same database."""
    check = one_link.VisitRowsCheck(replica_bench.SCENARIO)
    rps: dict[int, float] = {}
    for count in replica_bench.PROCESS_COUNTS:
        name = f"replicas: {count} process{'es' if count > 1 else ''}"
        print(f"leadlink on {database.kind}, {name}", file=sys.stderr)
        print(
            f"  one-link page (-t{replica_bench.WRK_THREADS} -c{options.connections}, not "
            f"pinned): {WARMUP_SECONDS} s warm-up + {options.duration} s",
            file=sys.stderr,
        )
        ports = [free_port() for _ in range(count)]
        with contextlib.ExitStack() as servers:
            for number, port in enumerate(ports, start=1):
                argv = leadlink_serve_argv(port, options.target_cmd)
                server_name = f"leadlink-{database.kind}-replica-{count}-{number}"
                servers.enter_context(
                    running_server(server_name, argv, port, database.env, database.work_dir)
                )
            check.setup(database.url)
            warmup = _drive_replicas(ports, options, database.work_dir, WARMUP_SECONDS)
            measured = _drive_replicas(ports, options, database.work_dir, options.duration)
            problem = check.check(database.url, warmup.requests + measured.requests)
        rps[count] = measured.requests_per_sec
        report.rows.append(to_row(database, name, options.connections, measured, bare_rps=None))
        if problem:
            report.problems.append(f"{database.kind} / {name}: {problem}")
    report.replicas.append(ReplicaScaling(database.kind, options.connections, rps[1], rps[2]))


def run_benchmark(options: Options, report: Report) -> None:
    """Prepare every database first, so a broken setup fails before minutes of measuring."""
    with (
        tempfile.TemporaryDirectory(prefix="leadlink-bench-") as tmp,
        contextlib.ExitStack() as databases,
    ):
        work_dir = Path(tmp)
        prepared = []
        for kind in options.databases:
            for scale in options.scales:
                seeded = scale if options.needs_seed else None
                where = work_dir / f"{kind}-{scale}"
                try:
                    prepared.append(
                        prepare_database(
                            kind, seeded, options, databases, work_dir=where, report=report
                        )
                    )
                except PostgresUnavailableError as exc:
                    print(f"{kind}: skipped, {exc}", file=sys.stderr)
                    break
        bare_rps = measure_bare(options, work_dir, report) if options.scenarios else {}
        for database in prepared:
            if options.scenarios or options.streams:
                measure_leadlink(database, options, bare_rps, report)
            if options.replicas and database.kind == "postgresql":
                measure_replicas(database, options, report)
        if options.replicas and "postgresql" not in options.databases:
            print(
                "replicas: skipped, it runs on PostgreSQL (--database postgresql)", file=sys.stderr
            )


def table_title(options: Options) -> str:
    seeded = ""
    if options.needs_seed:
        scales = " and ".join(f"{scale:,}" for scale in options.scales)
        seeded = f", {scales} visits seeded (leads: a tenth)"
    return (
        f"leadlink bench: wrk -t1 -d{options.duration}s, -c{options.connections} throughput / "
        f"-c{options.latency_connections} latency scenarios, uvicorn 1 worker{seeded}; "
        "ratios to the bare endpoint of this run at the same connections"
    )


def p95_limits(options: Options) -> dict[str, float]:
    return {
        scenario.name: scenario.p95_target_ms
        for scenario in options.scenarios
        if scenario.p95_target_ms is not None
    }


def json_settings(options: Options) -> dict[str, object]:
    return {
        "duration_s": options.duration,
        "warmup_s": WARMUP_SECONDS,
        "connections": options.connections,
        "latency_connections": options.latency_connections,
        "databases": list(options.databases),
        "scales": list(options.scales) if options.needs_seed else [],
        "growth": options.growth,
        "cpu_pinning": bool(options.pinning.server),
    }


# --- command line -------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--duration", type=_positive_int, default=10, help="seconds per run")
    parser.add_argument(
        "--connections", type=_positive_int, default=32, help="of the throughput scenarios"
    )
    parser.add_argument(
        "--latency-connections", type=_positive_int, default=1,
        help="of the latency scenarios (reports, leads pages, admin report)",
    )  # fmt: skip
    names = [scenario.name for scenario in SCENARIOS] + [stream.name for stream in STREAMS]
    names.append(replica_bench.SCENARIO)
    parser.add_argument(
        "--scenario", nargs="+", action="extend", metavar="NAME", choices=names,
        help="default: all (with --growth: the reports)",
    )  # fmt: skip
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"),
        help="default: sqlite (postgresql when only the replicas scenario is chosen)",
    )  # fmt: skip
    parser.add_argument(
        "--scale",
        type=_positive_int,
        default=report_bench.DEFAULT_SCALE,
        help="visits seeded for the report, leads and admin scenarios, with a tenth as many "
        f"leads (default {report_bench.DEFAULT_SCALE:,}; the issues' full scale is {FULL_SCALE})",
    )
    parser.add_argument(
        "--growth", action="store_true",
        help="seed each database twice, at --scale / 10 and at --scale, and compare the p95s",
    )  # fmt: skip
    # Debugging the harness itself: serve this command (placeholders {python} {host} {port})
    # in leadlink's slot, without migrate/demo.
    parser.add_argument("--target-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    default = REPORT_SCENARIOS if args.growth else set(names)
    chosen = set(args.scenario or default)
    database = args.database or ("postgresql" if chosen == {replica_bench.SCENARIO} else "sqlite")
    kinds: dict[str, tuple[DatabaseKind, ...]] = {
        "sqlite": ("sqlite",),
        "postgresql": ("postgresql",),
        "both": ("sqlite", "postgresql"),
    }
    databases = kinds[database]
    return Options(
        duration=args.duration,
        connections=args.connections,
        latency_connections=args.latency_connections,
        scenarios=tuple(scenario for scenario in SCENARIOS if scenario.name in chosen),
        streams=tuple(stream for stream in STREAMS if stream.name in chosen),
        databases=databases,
        scale=args.scale,
        growth=args.growth,
        target_cmd=args.target_cmd,
        pinning=core_pinning(),
        replicas=replica_bench.SCENARIO in chosen,
    )


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinding through the context managers is what stops the servers.
    raise SystemExit(128 + signum)


def report_failure(error: HarnessError) -> None:
    print(f"bench: {error}", file=sys.stderr)
    if isinstance(error, ServerError) and error.output_tail:
        print(f"--- last lines of its output ---\n{error.output_tail}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    ensure_wrk()
    report = Report()
    limits = p95_limits(options)
    try:
        run_benchmark(options, report)
    except KeyboardInterrupt:
        print("bench: interrupted; the servers it started are stopped", file=sys.stderr)
        return 130
    except HarnessError as error:
        report_failure(error)
        if report.rows or report.streams or report.replicas:
            title = table_title(options) + " (incomplete)"
            print_report(title, report, limits, growth=options.growth)
        return 1
    print_report(table_title(options), report, limits, growth=options.growth)
    for problem in report.problems:
        print(f"check failed: {problem}")
    write_json(RESULT_PATH, json_settings(options), report, limits, growth=options.growth)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
