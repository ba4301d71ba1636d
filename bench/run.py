"""The benchmark behind ``make bench``: the bare ASGI ceiling, then leadlink, driven by wrk.

    python -m bench.run [--duration 10] [--connections 32] [--scenario NAME ...]
                        [--database sqlite|postgresql|both] [--scale N]

Both servers run with the same uvicorn settings (uvloop, httptools, 1 worker, no access log) pinned
to one core; wrk runs on the other. Absolute numbers drift between machines, so every row is also
stated as a ratio to the bare endpoint measured in the same run. The table is printed and written to
``var/bench/last.json``.

Adding a scenario: append a ``Scenario`` to ``SCENARIOS`` (``--scenario NAME`` then picks it).
``method``, ``path``, ``headers`` and ``body`` describe one request; ``wrk_lua`` is extra wrk Lua,
e.g. a ``request()`` that varies it (the global ``bench_run`` is a token unique to each wrk run,
warm-up included, so generated values never repeat); ``setup(target)`` runs before the warm-up and
``check(target, runs)`` after the measured run, returning a problem sentence or ``None``::

    Scenario("one-link page", "GET", "/@demo", {"User-Agent": "... Instagram 309.0 ..."}, "")
    Scenario(
        "opt-in POST", "POST", "/p/demo", {"Content-Type": "application/x-www-form-urlencoded"},
        "", wrk_lua='n = 0 request = function() n = n + 1 return wrk.format(nil, nil, nil,'
        ' "email=" .. bench_run .. "-" .. n .. "@example.com") end', check=leads_match_responses,
    )

A check reads ``target.database_url``; ``runs.responses`` counts the warm-up too, and wrk abandons
up to ``--connections`` requests still in flight at the end of each run, which the server may
still complete: allow that much slack when comparing row counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from rich.console import Console
from rich.table import Table

from bench import one_link, opt_in
from bench import reports as report_bench

__all__ = [
    "SCENARIOS",
    "Scenario",
    "Target",
    "WrkOutputError",
    "WrkResult",
    "WrkRuns",
    "main",
    "parse_wrk_output",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_PATH = REPO_ROOT / "var" / "bench" / "last.json"
HOST = "127.0.0.1"
WARMUP_SECONDS = 2
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
PREPARATION_TIMEOUT_SECONDS = 300.0
WRK_GRACE_SECONDS = 60  # beyond its -d, before a hung wrk counts as a harness failure
STDERR_TAIL_LINES = 20
# Kept identical to the uvicorn.run() arguments of `leadlink serve` (app/cli.py), so the ratio
# measures leadlink rather than a difference in server options.
UVICORN_SETTINGS = (
    "--loop", "uvloop", "--http", "httptools", "--no-access-log",
    "--log-level", "warning", "--workers", "1", "--no-proxy-headers", "--no-server-header",
)  # fmt: skip
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL_ENV = "LEADLINK_BENCH_POSTGRES_URL"

DatabaseKind = Literal["sqlite", "postgresql"]


class HarnessError(Exception):
    """The benchmark could not be carried out (as opposed to a slow or failing server)."""


class ServerError(HarnessError):
    """A server, or a command preparing it, did not start or died during the run."""

    def __init__(self, what: str, reason: str, output_tail: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.output_tail = output_tail


class WrkOutputError(HarnessError, ValueError):
    """wrk's report lacks a number the table needs."""


class PostgresUnavailableError(HarnessError):
    """The PostgreSQL server cannot be reached; that database is skipped, not failed."""


# --- wrk's report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    """The numbers of one wrk run that the table and the checks use."""

    requests: int
    duration_s: float
    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    non_2xx_3xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeout_errors: int

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeout_errors

    @property
    def errors(self) -> int:
        """What the table calls errors: requests that did not get a 2xx or 3xx answer."""
        return self.socket_errors + self.non_2xx_3xx


# wrk prints times with these suffixes (its units.c); the table wants milliseconds.
_TIME_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"
_REQUESTS_RE = re.compile(rf"^\s*(\d+) requests in {_TIME},", re.MULTILINE)
_RATE_RE = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_SOCKET_ERRORS_RE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_NON_2XX_RE = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def _percentile_re(percent: int) -> re.Pattern[str]:
    return re.compile(rf"^\s*{percent}%\s+{_TIME}\s*$", re.MULTILINE)


_P50_RE = _percentile_re(50)
_P99_RE = _percentile_re(99)


def _milliseconds(number: str, unit: str) -> float:
    return float(number) * _TIME_UNIT_MS[unit]


def _required(pattern: re.Pattern[str], output: str, what: str) -> re.Match[str]:
    match = pattern.search(output)
    if match is None:
        raise WrkOutputError(f"wrk output has no {what} (was --latency given?):\n{output}")
    return match


def parse_wrk_output(output: str) -> WrkResult:
    """Read wrk's ``--latency`` text report; the error lines are absent when there were none."""
    requests = _required(_REQUESTS_RE, output, "'N requests in' line")
    p50 = _required(_P50_RE, output, "50% latency")
    p99 = _required(_P99_RE, output, "99% latency")
    rate = _required(_RATE_RE, output, "Requests/sec line")
    socket_errors = _SOCKET_ERRORS_RE.search(output)
    connect, read, write, timeout = (
        (int(count) for count in socket_errors.groups()) if socket_errors else (0, 0, 0, 0)
    )
    non_2xx = _NON_2XX_RE.search(output)
    return WrkResult(
        requests=int(requests.group(1)),
        duration_s=_milliseconds(requests.group(2), requests.group(3)) / 1000.0,
        requests_per_sec=float(rate.group(1)),
        p50_ms=_milliseconds(p50.group(1), p50.group(2)),
        p99_ms=_milliseconds(p99.group(1), p99.group(2)),
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeout_errors=timeout,
    )


# --- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A running server as a scenario's setup and check see it."""

    base_url: str
    database_url: str | None  # None for the bare endpoint, which has no database


@dataclass(frozen=True)
class WrkRuns:
    """Both wrk runs of a scenario: the warm-up also reaches the server, so checks need it."""

    warmup: WrkResult
    measured: WrkResult

    @property
    def responses(self) -> int:
        """Responses received over both runs (wrk drops requests still in flight at the end)."""
        return self.warmup.requests + self.measured.requests


Setup = Callable[[Target], None]
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


BARE = Scenario("bare", "GET", "/", {}, "")

_page_check = one_link.VisitRowsCheck("one-link page")
_redirect_check = one_link.VisitRowsCheck("one-link redirect")
_opt_in_check = opt_in.OptInCheck()


def _setup_redirect(target: Target) -> None:
    one_link.create_redirect_handle(target.database_url)
    _redirect_check.setup(target.database_url)


SCENARIOS: list[Scenario] = [
    Scenario("healthz", "GET", "/healthz", {}, ""),
    Scenario(
        "one-link page",
        "GET",
        "/@demo",
        {"User-Agent": one_link.INSTAGRAM_ANDROID_UA},
        "",
        setup=lambda target: _page_check.setup(target.database_url),
        check=lambda target, runs: _page_check.check(target.database_url, runs.responses),
    ),
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
        )
        for name, path in report_bench.REQUESTS
    ),
]


def _lua_string(text: str) -> str:
    """A Lua string literal; bytes outside printable ASCII become decimal escapes."""
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte}"
        for byte in text.encode()
    )
    return f'"{escaped}"'


def wrk_lua_script(scenario: Scenario, run_token: str) -> str | None:
    """The Lua that makes wrk send the scenario's request, or None when a plain GET will do."""
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
    return "\n".join(lines) + "\n" if lines else None


# --- processes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorePinning:
    """Command prefixes keeping the server and wrk on separate cores, so they do not compete."""

    server: tuple[str, ...]
    wrk: tuple[str, ...]


def core_pinning() -> CorePinning:
    # sched_getaffinity is Linux-only; elsewhere the run is simply not pinned.
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(cores) < 2:
        return CorePinning((), ())
    return CorePinning(("taskset", "-c", str(cores[0])), ("taskset", "-c", str(cores[1])))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-STDERR_TAIL_LINES:])


def _wait_until_listening(
    name: str, process: subprocess.Popen[bytes], port: int, log: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(name, f"exited with status {process.returncode}", _tail(log))
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise ServerError(name, f"not listening after {STARTUP_TIMEOUT_SECONDS:.0f} s", _tail(log))


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it does not go in time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def running_server(
    name: str, argv: Sequence[str], port: int, env: Mapping[str, str], log_dir: Path
) -> Iterator[str]:
    """Start a server, yield its base URL once its port answers, and always stop it."""
    log = log_dir / f"{name}.stderr.log"
    with log.open("wb") as stderr:
        # A session of its own: Ctrl-C reaches only this harness, which then stops it in order.
        process = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=dict(env), stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_listening(name, process, port, log)
        try:
            yield f"http://{HOST}:{port}"
        except HarnessError:
            # A dead server explains a failing wrk better than wrk's own message does.
            _raise_if_exited(name, process, log)
            raise
        _raise_if_exited(name, process, log)
    finally:
        _stop(process)


def _raise_if_exited(name: str, process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is not None:
        reason = f"exited with status {process.returncode} during the run"
        raise ServerError(name, reason, _tail(log))


def run_preparation(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float = PREPARATION_TIMEOUT_SECONDS,
) -> str:
    """Run a one-off command (migrate, demo) to completion or fail the run with its output;
    returns what it printed on stdout."""
    try:
        done = subprocess.run(
            argv, cwd=REPO_ROOT, env=dict(env), capture_output=True, text=True, check=False,
            timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise ServerError(name, f"did not finish within {exc.timeout:.0f} s", "") from exc
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        reason = f"exited with status {done.returncode}"
        raise ServerError(name, reason, "\n".join(output[-STDERR_TAIL_LINES:]))
    return done.stdout


# --- wrk ----------------------------------------------------------------------------------------


def ensure_wrk() -> None:
    """Install wrk with apt-get when we are root; otherwise say what is missing and stop."""
    if shutil.which("wrk") is not None:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit("wrk is not installed: install it (e.g. `apt-get install wrk`) and re-run.")
    print("installing wrk with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
            sys.exit(f"`{shlex.join(argv)}` failed; install wrk by hand and re-run.")


def run_wrk(
    url: str, *, connections: int, seconds: int, script: Path | None, pinning: CorePinning
) -> WrkResult:
    argv = [
        *pinning.wrk, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
        *(["-s", str(script)] if script else []), url,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + WRK_GRACE_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"wrk did not finish within {exc.timeout:.0f} s on {url}") from exc
    if done.returncode != 0:
        raise HarnessError(f"wrk failed on {url}: {(done.stderr or done.stdout).strip()}")
    return parse_wrk_output(done.stdout)


@dataclass(frozen=True)
class Options:
    """What this run measures and how, from the command line."""

    duration: int
    connections: int
    scenarios: tuple[Scenario, ...]
    databases: tuple[DatabaseKind, ...]
    scale: int | None
    target_cmd: str | None
    pinning: CorePinning


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    database: str | None  # None for the bare endpoint
    scenario: str
    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio_to_bare: float | None


def measure(
    scenario: Scenario, target: Target, options: Options, work_dir: Path
) -> tuple[WrkResult, str | None]:
    """Warm up, measure, then run the scenario's check; returns the result and any problem."""
    print(f"  {scenario.name}: {WARMUP_SECONDS} s warm-up + {options.duration} s", file=sys.stderr)
    if scenario.setup:
        scenario.setup(target)
    url = target.base_url + scenario.path

    def drive(seconds: int) -> WrkResult:
        script = _write_lua_script(scenario, work_dir)
        return run_wrk(
            url, connections=options.connections, seconds=seconds, script=script,
            pinning=options.pinning,
        )  # fmt: skip

    runs = WrkRuns(warmup=drive(WARMUP_SECONDS), measured=drive(options.duration))
    problem = scenario.check(target, runs) if scenario.check else None
    return runs.measured, problem


def _write_lua_script(scenario: Scenario, work_dir: Path) -> Path | None:
    lua = wrk_lua_script(scenario, run_token=secrets.token_hex(4))
    if lua is None:
        return None
    script = work_dir / (re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()) + ".lua")
    script.write_text(lua)
    return script


# --- databases ----------------------------------------------------------------------------------


def _with_database(url: str, scheme: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


async def _execute_on_postgres(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """Create a throw-away database for one run, yield its SQLAlchemy URL, and drop it after."""
    server_url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    maintenance_dsn = _with_database(
        server_url, "postgresql", urlsplit(server_url).path.lstrip("/") or "postgres"
    )
    name = f"leadlink_bench_{secrets.token_hex(4)}"
    try:
        asyncio.run(_execute_on_postgres(maintenance_dsn, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = _without_credentials(server_url)
        raise PostgresUnavailableError(f"cannot create a database on {where}: {exc}") from exc
    try:
        yield _with_database(server_url, "postgresql+asyncpg", name)
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        try:
            asyncio.run(_execute_on_postgres(maintenance_dsn, drop))
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            # Do not hide the run's own outcome behind a clean-up failure.
            print(f"bench: could not drop database {name}: {exc}", file=sys.stderr)


@contextlib.contextmanager
def bench_database(kind: DatabaseKind, work_dir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work_dir / 'bench.db'}"
    else:
        with postgres_database() as url:
            yield url


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


def leadlink_env(data_dir: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEADLINK_DATA_DIR": str(data_dir),
        "LEADLINK_DATABASE_URL": database_url,
        "LEADLINK_LOG_LEVEL": "WARNING",
        "LEADLINK_ENV": "development",
        **opt_in.BENCH_RATE_LIMITS,
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


def prepare_leadlink(env: Mapping[str, str], scale: int | None, *, seed_reports: bool) -> None:
    """Migrate the fresh database and seed the demo data the scenarios request (and, for the
    report scenarios, `scale` visits with a tenth as many leads)."""
    leadlink = leadlink_command()
    run_preparation("leadlink migrate", [leadlink, "migrate"], env)
    run_preparation("leadlink demo", [leadlink, "demo"], env)
    if seed_reports:
        argv = report_bench.seed_argv(scale)
        seeded = run_preparation("report data", argv, env, report_bench.SEED_TIMEOUT_SECONDS)
        print(f"  {seeded.strip()}", file=sys.stderr)


def to_row(database: str | None, scenario: str, result: WrkResult, bare_rps: float) -> Row:
    return Row(
        database=database,
        scenario=scenario,
        requests_per_sec=result.requests_per_sec,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        ratio_to_bare=result.requests_per_sec / bare_rps if bare_rps > 0 else None,
    )


@dataclass
class Report:
    """What the run measured so far, kept even when a later step fails."""

    rows: list[Row]
    problems: list[str]


def measure_bare(options: Options, work_dir: Path, report: Report) -> float:
    """Measure the bare endpoint; returns its requests/s, the denominator of every ratio."""
    print("bare endpoint", file=sys.stderr)
    port = free_port()
    argv = [*options.pinning.server, *bare_argv(port)]
    with running_server("bare", argv, port, os.environ, work_dir) as base_url:
        result, _ = measure(BARE, Target(base_url, None), options, work_dir)
    report.rows.append(to_row(None, BARE.name, result, result.requests_per_sec))
    return result.requests_per_sec


@dataclass(frozen=True)
class PreparedDatabase:
    """A migrated, seeded database and the environment that points leadlink at it."""

    kind: DatabaseKind
    url: str
    env: dict[str, str]
    work_dir: Path


def prepare_database(
    kind: DatabaseKind, options: Options, work_dir: Path, cleanup: contextlib.ExitStack
) -> PreparedDatabase:
    print(f"preparing leadlink on {kind}", file=sys.stderr)
    work_dir.mkdir()
    url = cleanup.enter_context(bench_database(kind, work_dir))
    data_dir = work_dir / "data"
    data_dir.mkdir()
    env = leadlink_env(data_dir, url)
    if options.target_cmd is None:
        report_scenarios = {name for name, _path in report_bench.REQUESTS}
        seed_reports = any(scenario.name in report_scenarios for scenario in options.scenarios)
        prepare_leadlink(env, options.scale, seed_reports=seed_reports)
    return PreparedDatabase(kind, url, env, work_dir)


def measure_leadlink(
    database: PreparedDatabase, options: Options, bare_rps: float, report: Report
) -> None:
    print(f"leadlink on {database.kind}", file=sys.stderr)
    port = free_port()
    argv = [*options.pinning.server, *leadlink_serve_argv(port, options.target_cmd)]
    name = f"leadlink-{database.kind}"
    with running_server(name, argv, port, database.env, database.work_dir) as base_url:
        target = Target(base_url, database.url)
        for scenario in options.scenarios:
            result, problem = measure(scenario, target, options, database.work_dir)
            report.rows.append(to_row(database.kind, scenario.name, result, bare_rps))
            if problem:
                report.problems.append(f"{database.kind} / {scenario.name}: {problem}")


def run_benchmark(options: Options, report: Report) -> None:
    """Prepare every database first, so a broken setup fails before minutes of measuring."""
    with (
        tempfile.TemporaryDirectory(prefix="leadlink-bench-") as tmp,
        contextlib.ExitStack() as databases,
    ):
        work_dir = Path(tmp)
        prepared = []
        for kind in options.databases:
            try:
                prepared.append(prepare_database(kind, options, work_dir / kind, databases))
            except PostgresUnavailableError as exc:
                print(f"{kind}: skipped, {exc}", file=sys.stderr)
        bare_rps = measure_bare(options, work_dir, report)
        for database in prepared:
            measure_leadlink(database, options, bare_rps, report)


# --- the table ----------------------------------------------------------------------------------

COLUMNS = ("database", "scenario", "requests/s", "p50 ms", "p99 ms", "errors", "× bare")  # noqa: RUF001
TEXT_COLUMNS = 2  # the first columns are names, left-aligned; the numbers are right-aligned


def table_title(options: Options) -> str:
    return (
        f"leadlink bench: wrk -t1 -c{options.connections} -d{options.duration}s, "
        f"uvicorn 1 worker, ratios to the bare endpoint of this run"
    )


def table_cells(row: Row) -> tuple[str, ...]:
    ratio = "—" if row.ratio_to_bare is None else f"{row.ratio_to_bare:.2f}"
    return (
        row.database or "—", row.scenario, f"{row.requests_per_sec:,.0f}", f"{row.p50_ms:.2f}",
        f"{row.p99_ms:.2f}", str(row.errors), ratio,
    )  # fmt: skip


def print_table(title: str, rows: Sequence[Row]) -> None:
    table = Table(title=title)
    for index, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if index < TEXT_COLUMNS else "right")
    for row in rows:
        table.add_row(*table_cells(row))
    Console().print(table)


def write_json(options: Options, report: Report, path: Path = RESULT_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "duration_s": options.duration,
            "warmup_s": WARMUP_SECONDS,
            "connections": options.connections,
            "databases": list(options.databases),
            "scale": options.scale,
            "cpu_pinning": bool(options.pinning.server),
        },
        "rows": [asdict(row) for row in report.rows],
        "problems": report.problems,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


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
    parser.add_argument("--connections", type=_positive_int, default=32)
    parser.add_argument(
        "--scenario", nargs="+", action="extend", metavar="NAME",
        choices=[scenario.name for scenario in SCENARIOS], help="default: all",
    )  # fmt: skip
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument(
        "--scale",
        type=_positive_int,
        help="visits seeded for the report scenarios, with a tenth as many leads "
        f"(default {report_bench.DEFAULT_SCALE:,}; the issue's full scale is 10000000)",
    )
    # Debugging the harness itself: serve this command (placeholders {python} {host} {port})
    # in leadlink's slot, without migrate/demo.
    parser.add_argument("--target-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    chosen = set(args.scenario or [scenario.name for scenario in SCENARIOS])
    databases: tuple[DatabaseKind, ...] = (
        ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    )
    return Options(
        duration=args.duration,
        connections=args.connections,
        scenarios=tuple(scenario for scenario in SCENARIOS if scenario.name in chosen),
        databases=databases,
        scale=args.scale,
        target_cmd=args.target_cmd,
        pinning=core_pinning(),
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
    report = Report(rows=[], problems=[])
    try:
        run_benchmark(options, report)
    except KeyboardInterrupt:
        print("bench: interrupted; the servers it started are stopped", file=sys.stderr)
        return 130
    except HarnessError as error:
        report_failure(error)
        if report.rows:
            print_table(table_title(options) + " (incomplete)", report.rows)
        return 1
    print_table(table_title(options), report.rows)
    for problem in report.problems:
        print(f"check failed: {problem}")
    write_json(options, report)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
