"""What a bench run measured: its rows, the issues' targets against them (met / not met), the
growth between two data sizes, and how all that is printed and written to ``last.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.leads import DEEP_PAGE_SCENARIO, FIRST_PAGE_SCENARIO
from bench.replicas import ReplicaScaling

__all__ = [
    "FULL_SCALE",
    "GrowthRow",
    "Report",
    "Row",
    "StreamRow",
    "TargetCheck",
    "growth_rows",
    "print_report",
    "target_checks",
    "write_json",
]

FULL_SCALE = 10_000_000  # visits (and a tenth as many leads): the scale the targets are for
DEEP_TO_FIRST_MAX = 2.0  # issue 5: p95 of the deep page ÷ p95 of the first
GROWTH_MAX = 1.5  # issue 6: p95 at FULL_SCALE ÷ p95 at a tenth of it


@dataclass(frozen=True)
class ThroughputTarget:
    """Issues 3 and 4: requests/s at least `min_ratio` times bare, p99 at most `max_p99_ms`."""

    min_ratio: float
    max_p99_ms: float | None
    databases: frozenset[str]


BOTH = frozenset({"sqlite", "postgresql"})
THROUGHPUT_TARGETS = {
    "one-link page": ThroughputTarget(0.20, 20.0, BOTH),  # issue 3, the same on PostgreSQL
    "one-link redirect": ThroughputTarget(0.25, None, BOTH),
    "opt-in POST": ThroughputTarget(0.03, 50.0, frozenset({"sqlite"})),  # issue 4
}


@dataclass(frozen=True)
class Row:
    """One line of the wrk table."""

    database: str | None  # None for the bare endpoint
    scale: int | None  # visits seeded (leads: a tenth), None without seeded data
    scenario: str
    connections: int
    requests_per_sec: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    ratio_to_bare: float | None


@dataclass(frozen=True)
class StreamRow:
    """One line of the download table."""

    database: str
    scale: int | None
    scenario: str
    rows: int
    seconds: float
    megabytes: float
    megabytes_per_sec: float
    rss_before_mb: float
    peak_rss_mb: float
    peak_rss_target_mb: float


@dataclass
class Report:
    """What the run measured so far, kept even when a later step fails."""

    rows: list[Row] = field(default_factory=list)
    streams: list[StreamRow] = field(default_factory=list)
    replicas: list[ReplicaScaling] = field(default_factory=list)
    seeding: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TargetCheck:
    """One target of the issues against what this run measured."""

    subject: str
    measure: str
    measured: float
    limit: float
    unit: str
    at_least: bool = False  # the limit is a floor (a throughput ratio), not a ceiling

    @property
    def met(self) -> bool:
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    def line(self) -> str:
        verdict = "met" if self.met else "NOT MET"
        bound = "≥" if self.at_least else "≤"
        digits = 3 if self.at_least else 2
        return (
            f"{self.subject}: {self.measure} {self.measured:.{digits}f}{self.unit} "
            f"(target {bound} {self.limit:g}{self.unit}): {verdict}"
        )


@dataclass(frozen=True)
class GrowthRow:
    """A scenario's p95 on the same database at two data sizes."""

    database: str
    scenario: str
    small_scale: int
    large_scale: int
    small_p95_ms: float
    large_p95_ms: float

    @property
    def ratio(self) -> float:
        return self.large_p95_ms / self.small_p95_ms if self.small_p95_ms > 0 else float("inf")


def _where(row: Row | StreamRow, growth: bool) -> str:
    if growth and row.scale:
        return f"{row.database} @{row.scale:,}"
    return row.database or "bare"


def growth_rows(rows: Sequence[Row]) -> list[GrowthRow]:
    """p95 at the largest scale against the smallest, per database and scenario."""
    by_key: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.database and row.scale:
            by_key.setdefault((row.database, row.scenario), []).append(row)
    found = []
    for (database, scenario), measured in by_key.items():
        small = min(measured, key=lambda row: row.scale or 0)
        large = max(measured, key=lambda row: row.scale or 0)
        if small.scale and large.scale and small.scale != large.scale:
            found.append(
                GrowthRow(
                    database=database,
                    scenario=scenario,
                    small_scale=small.scale,
                    large_scale=large.scale,
                    small_p95_ms=small.p95_ms,
                    large_p95_ms=large.p95_ms,
                )
            )
    return found


def target_checks(
    report: Report, p95_limits: Mapping[str, float], *, growth: bool
) -> list[TargetCheck]:
    """The issues' targets that this run's rows speak to: the throughput ratios and p99s of
    `THROUGHPUT_TARGETS`, p95 per scenario (`p95_limits`, by scenario name), the deep ÷ first
    leads page, the export's peak RSS, the growth ratios."""
    checks: list[TargetCheck] = []
    pages: dict[str, dict[str, float]] = {}
    for row in report.rows:
        limit = p95_limits.get(row.scenario) if row.database else None
        where = _where(row, growth)
        checks.extend(_throughput_checks(row, where))
        if limit is not None:
            checks.append(TargetCheck(f"{where} / {row.scenario}", "p95", row.p95_ms, limit, " ms"))
        if row.database and row.scenario in {FIRST_PAGE_SCENARIO, DEEP_PAGE_SCENARIO}:
            pages.setdefault(where, {})[row.scenario] = row.p95_ms
    for where, p95 in pages.items():
        if len(p95) == 2 and p95[FIRST_PAGE_SCENARIO] > 0:
            ratio = p95[DEEP_PAGE_SCENARIO] / p95[FIRST_PAGE_SCENARIO]
            subject = f"{where} / leads pages"
            checks.append(TargetCheck(subject, "deep ÷ first p95", ratio, DEEP_TO_FIRST_MAX, ""))
    for stream in report.streams:
        subject = f"{_where(stream, growth)} / {stream.scenario}"
        checks.append(
            TargetCheck(subject, "peak RSS", stream.peak_rss_mb, stream.peak_rss_target_mb, " MB")
        )
    checks.extend(
        TargetCheck(
            f"{row.database} / {row.scenario}",
            f"p95 @{row.large_scale:,} ÷ p95 @{row.small_scale:,}",
            row.ratio,
            GROWTH_MAX,
            "",
        )
        for row in growth_rows(report.rows)
    )
    return checks


def _throughput_checks(row: Row, where: str) -> list[TargetCheck]:
    target = THROUGHPUT_TARGETS.get(row.scenario)
    if target is None or row.database not in target.databases or row.ratio_to_bare is None:
        return []
    subject = f"{where} / {row.scenario}"
    checks = [TargetCheck(subject, "ratio to bare", row.ratio_to_bare, target.min_ratio, "", True)]
    if target.max_p99_ms is not None:
        checks.append(TargetCheck(subject, "p99", row.p99_ms, target.max_p99_ms, " ms"))
    return checks


# --- printing -----------------------------------------------------------------------------------

COLUMNS = (
    "database", "scenario", "connections", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors",
    "× bare",  # noqa: RUF001
)  # fmt: skip
STREAM_COLUMNS = ("database", "scenario", "rows", "seconds", "MB/s", "RSS before MB", "peak RSS MB")
GROWTH_COLUMNS = ("database", "scenario", "p95 ms small", "p95 ms large", "ratio")
TEXT_COLUMNS = 2  # the first columns are names, left-aligned; the numbers are right-aligned
MIN_WIDTH = 140  # rich would otherwise squeeze the table into a narrow (or piped) terminal


def table_cells(row: Row, growth: bool = False) -> tuple[str, ...]:
    ratio = "—" if row.ratio_to_bare is None else f"{row.ratio_to_bare:.2f}"
    return (
        _where(row, growth) if row.database else "—", row.scenario, str(row.connections),
        f"{row.requests_per_sec:,.0f}", f"{row.p50_ms:.2f}", f"{row.p95_ms:.2f}",
        f"{row.p99_ms:.2f}", str(row.errors), ratio,
    )  # fmt: skip


def stream_cells(row: StreamRow, growth: bool = False) -> tuple[str, ...]:
    return (
        _where(row, growth), row.scenario, f"{row.rows:,}", f"{row.seconds:.1f}",
        f"{row.megabytes_per_sec:.1f}", f"{row.rss_before_mb:.0f}", f"{row.peak_rss_mb:.0f}",
    )  # fmt: skip


def growth_cells(row: GrowthRow) -> tuple[str, ...]:
    return (
        row.database, row.scenario, f"{row.small_p95_ms:.2f}", f"{row.large_p95_ms:.2f}",
        f"{row.ratio:.2f}",
    )  # fmt: skip


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(title=title)
    for index, name in enumerate(columns):
        table.add_column(name, justify="left" if index < TEXT_COLUMNS else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.width = max(MIN_WIDTH, console.width)
    console.print(table)


def print_report(
    title: str, report: Report, p95_limits: Mapping[str, float], *, growth: bool
) -> None:
    """The wrk table, the downloads, the growth ratios, the targets and the seeding times."""
    _print_table(title, COLUMNS, [table_cells(row, growth) for row in report.rows])
    if report.streams:
        title = "streamed downloads (one client; the server's RSS sampled every 50 ms)"
        _print_table(title, STREAM_COLUMNS, [stream_cells(row, growth) for row in report.streams])
    grown = growth_rows(report.rows)
    if grown:
        scales = f"{grown[0].small_scale:,} vs {grown[0].large_scale:,} visits"
        _print_table(f"growth: p95 at {scales}", GROWTH_COLUMNS, [growth_cells(r) for r in grown])
    if report.replicas:
        print("\nreplicas (two serving processes ÷ one; docs/bench.md says what it shows):")
        for scaling in report.replicas:
            print(f"  {scaling.line()}")
    checks = target_checks(report, p95_limits, growth=growth)
    if checks:
        print(f"\ntargets (issues 3-6, 13; latency ones are stated at --scale {FULL_SCALE}):")
        for check in checks:
            print(f"  {check.line()}")
    if report.seeding:
        print("\nseeding:")
        for line in report.seeding:
            print(f"  {line}")


def write_json(
    path: Path,
    settings: Mapping[str, object],
    report: Report,
    p95_limits: Mapping[str, float],
    *,
    growth: bool,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    checks = target_checks(report, p95_limits, growth=growth)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": dict(settings),
        "rows": [asdict(row) for row in report.rows],
        "streams": [asdict(row) for row in report.streams],
        "growth": [{**asdict(row), "ratio": row.ratio} for row in growth_rows(report.rows)],
        "replicas": [{**asdict(row), "ratio": row.ratio} for row in report.replicas],
        "targets": [{**asdict(check), "met": check.met} for check in checks],
        "seeding": report.seeding,
        "problems": report.problems,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
