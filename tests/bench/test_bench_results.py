"""What the bench says about the issues' targets: throughput as a ratio to bare and p99, p95 per
scenario, the deep ÷ first leads page, the export's peak memory, and the growth from a tenth of
the data to all of it."""

import pytest

from bench.results import Report, Row, StreamRow, growth_rows, target_checks


def row(
    scenario: str, p95_ms: float, *, database: str | None = "sqlite", scale: int | None = 1000
) -> Row:
    return Row(
        database=database,
        scale=scale,
        scenario=scenario,
        connections=1,
        requests_per_sec=100.0,
        p50_ms=p95_ms / 2,
        p95_ms=p95_ms,
        p99_ms=p95_ms * 2,
        errors=0,
        ratio_to_bare=0.01,
    )


def export(peak_rss_mb: float) -> StreamRow:
    return StreamRow(
        database="postgresql",
        scale=1000,
        scenario="leads CSV export",
        rows=100,
        seconds=1.0,
        megabytes=1.0,
        megabytes_per_sec=1.0,
        rss_before_mb=120.0,
        peak_rss_mb=peak_rss_mb,
        peak_rss_target_mb=200.0,
    )


def lines(report: Report, *, growth: bool = False) -> list[str]:
    limits = {"report 7d one handle": 15.0, "leads first page": 20.0, "leads deep page": 20.0}
    return [check.line() for check in target_checks(report, limits, growth=growth)]


def test_each_p95_is_held_against_its_scenarios_target() -> None:
    report = Report(rows=[row("report 7d one handle", 9.5), row("healthz", 400.0)])

    assert lines(report) == [
        "sqlite / report 7d one handle: p95 9.50 ms (target ≤ 15 ms): met",
    ]


def test_the_bare_endpoint_has_no_target() -> None:
    report = Report(rows=[row("report 7d one handle", 99.0, database=None, scale=None)])

    assert lines(report) == []


@pytest.mark.parametrize(
    ("first_ms", "deep_ms", "verdict"),
    [(10.0, 19.0, "met"), (10.0, 20.0, "met"), (5.0, 10.5, "NOT MET")],
)
def test_the_deep_page_may_take_twice_the_first(
    first_ms: float, deep_ms: float, verdict: str
) -> None:
    report = Report(rows=[row("leads first page", first_ms), row("leads deep page", deep_ms)])

    ratio = deep_ms / first_ms
    assert f"sqlite / leads pages: deep ÷ first p95 {ratio:.2f} (target ≤ 2): {verdict}" in (
        lines(report)
    )


def test_the_export_is_held_to_its_peak_memory() -> None:
    assert lines(Report(streams=[export(201.0)])) == [
        "postgresql / leads CSV export: peak RSS 201.00 MB (target ≤ 200 MB): NOT MET"
    ]


def test_growth_compares_the_same_scenario_and_database_at_two_scales() -> None:
    rows = [
        row("report 7d one handle", 6.0, scale=1_000_000),
        row("report 7d one handle", 8.0, scale=10_000_000),
        row("report 7d one handle", 30.0, database="postgresql", scale=10_000_000),
    ]

    (growth,) = growth_rows(rows)

    assert (growth.database, growth.small_scale, growth.large_scale) == (
        "sqlite", 1_000_000, 10_000_000,
    )  # fmt: skip
    assert growth.ratio == pytest.approx(8.0 / 6.0)
    assert (
        "sqlite / report 7d one handle: p95 @10,000,000 ÷ p95 @1,000,000 1.33 (target ≤ 1.5): met"
        in lines(Report(rows=rows), growth=True)
    )


def throughput_row(scenario: str, ratio: float, p99_ms: float, database: str = "sqlite") -> Row:
    return Row(
        database=database,
        scale=None,
        scenario=scenario,
        connections=32,
        requests_per_sec=ratio * 50_000,
        p50_ms=p99_ms / 4,
        p95_ms=p99_ms / 2,
        p99_ms=p99_ms,
        errors=0,
        ratio_to_bare=ratio,
    )


def test_throughput_is_held_to_its_ratio_floor_and_its_p99() -> None:
    report = Report(
        rows=[
            throughput_row("one-link page", 0.16, 10.0),
            throughput_row("one-link redirect", 0.25, 9.0, database="postgresql"),
            throughput_row("opt-in POST", 0.043, 51.0),
            throughput_row("opt-in POST", 0.025, 30.0, database="postgresql"),
        ]
    )

    assert lines(report) == [
        "sqlite / one-link page: ratio to bare 0.160 (target ≥ 0.2): NOT MET",
        "sqlite / one-link page: p99 10.00 ms (target ≤ 20 ms): met",
        "postgresql / one-link redirect: ratio to bare 0.250 (target ≥ 0.25): met",
        "sqlite / opt-in POST: ratio to bare 0.043 (target ≥ 0.03): met",
        "sqlite / opt-in POST: p99 51.00 ms (target ≤ 50 ms): NOT MET",
    ]  # PostgreSQL's opt-in is reported alongside, with no target of its own (issue 4)
