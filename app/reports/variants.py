"""A/B variants of a handle's routing: visits, leads, visit-to-lead with a 95 % Wilson interval
and the probability that each variant is best (Beta-Binomial posterior, integrated numerically);
the method is described in docs/reports.md."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.handles.visibility import Sight, visible_only
from app.leads.models import Lead
from app.links.models import Route, VariantRollup
from app.pages.models import Page
from app.reports.service import check_range, source_rank
from app.reports.timezones import (
    utc_bounds,
    zone,
)

__all__ = [
    "VariantReport",
    "VariantRow",
    "handles_with_experiments",
    "p_best",
    "variant_report",
    "wilson_interval",
]

Z_95 = 1.959963984540054
GRID_POINTS_PER_ARM = 200
GRID_SPREAD = 10  # standard deviations of each posterior the grid covers


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default); None without trials."""
    if trials <= 0:
        return None
    successes = min(max(successes, 0), trials)
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _beta_log_density(x: float, a: float, b: float, log_norm: float) -> float:
    if not 0.0 < x < 1.0:
        # At the ends only Beta(1, b) (at 0) and Beta(a, 1) (at 1) have a positive density.
        if (x <= 0.0 and a == 1.0) or (x >= 1.0 and b == 1.0):
            return log_norm
        return -math.inf
    return (a - 1) * math.log(x) + (b - 1) * math.log1p(-x) + log_norm


def p_best(arms: Sequence[tuple[int, int]]) -> list[float]:
    """P(each arm has the highest rate), arms given as (leads, visits).

    Each arm's rate has the posterior Beta(1 + leads, 1 + visits - leads) (a uniform prior), and
    P(arm i is best) = ∫ f_i(x) · Π_{j≠i} F_j(x) dx. The integral is computed on a grid that
    covers ±10 standard deviations of every posterior with 200 points each (trapezoid rule,
    CDFs accumulated on the same grid): deterministic, within about 1e-4 of the exact value,
    and a few milliseconds in plain Python, where a Monte Carlo estimate with Python's
    `betavariate` would need about a second for the same precision.
    """
    if not arms:
        return []
    if len(arms) == 1:
        return [1.0]
    shapes = [(1.0 + max(leads, 0), 1.0 + max(visits - leads, 0)) for leads, visits in arms]
    grid: set[float] = {0.0, 1.0}
    for a, b in shapes:
        mean = a / (a + b)
        spread = GRID_SPREAD * math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        low, high = max(0.0, mean - spread), min(1.0, mean + spread)
        grid.update(
            low + (high - low) * k / GRID_POINTS_PER_ARM for k in range(GRID_POINTS_PER_ARM + 1)
        )
    xs = sorted(grid)
    steps = [right - left for left, right in pairwise(xs)]
    densities: list[list[float]] = []
    cdfs: list[list[float]] = []
    for a, b in shapes:
        log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        density = [math.exp(_beta_log_density(x, a, b, log_norm)) for x in xs]
        cdf = [0.0]
        for step, (left, right) in zip(steps, pairwise(density), strict=True):
            cdf.append(cdf[-1] + step * (left + right) / 2)
        total = cdf[-1] or 1.0
        densities.append([value / total for value in density])
        cdfs.append([value / total for value in cdf])
    chances = []
    for i, density in enumerate(densities):
        others = [cdf for j, cdf in enumerate(cdfs) if j != i]
        integrand = [density[k] * math.prod(cdf[k] for cdf in others) for k in range(len(xs))]
        chances.append(
            sum(
                step * (left + right) / 2
                for step, (left, right) in zip(steps, pairwise(integrand), strict=True)
            )
        )
    total = sum(chances) or 1.0
    return [chance / total for chance in chances]


@dataclass(frozen=True, slots=True)
class VariantRow:
    """One variant (route) of an experiment, for one visit source or (source None) all."""

    experiment: str | None  # the routes' source; None = the routes for any source
    source: str | None
    route_id: int
    variant: str
    page: str | None
    visits: int
    leads: int
    interval: tuple[float, float] | None
    p_best: float | None

    @property
    def visit_to_lead(self) -> float | None:
        return self.leads / self.visits if self.visits else None


@dataclass(frozen=True, slots=True)
class VariantReport:
    start: date
    end: date
    rows: list[VariantRow]


async def variant_report(
    session: AsyncSession,
    handle: Handle,
    start: date,
    end: date,
    *,
    tz: str | ZoneInfo = "UTC",
) -> VariantReport:
    """Per route variant, per visit source and over all sources: visits, leads, the visit-to-lead
    rate with its 95 % Wilson interval, and the probability that the variant is the best of the
    routes it competes with (the handle's routes for the same source)."""
    check_range(start, end)
    zone_info = tz if isinstance(tz, ZoneInfo) else zone(tz)
    low, high = utc_bounds(start, end, zone_info)
    routes = (
        await session.execute(
            select(Route.id, Route.source, Route.variant, Page.slug)
            .outerjoin(Page, Page.id == Route.page_id)
            .where(Route.handle_id == handle.id)
            .order_by(Route.source, Route.id)
        )
    ).all()
    # From the rollups, which count every visit ever written (raw rows are pruned).
    visit_counts = await session.execute(
        select(VariantRollup.route_id, VariantRollup.source, func.sum(VariantRollup.visits))
        .where(
            VariantRollup.handle_id == handle.id,
            VariantRollup.day >= start,
            VariantRollup.day <= end,
        )
        .group_by(VariantRollup.route_id, VariantRollup.source)
    )
    lead_counts = await session.execute(
        select(Lead.route_id, Lead.source, func.count())
        .where(
            Lead.handle_id == handle.id,
            Lead.created_at >= low,
            Lead.created_at < high,
            Lead.route_id.is_not(None),
        )
        .group_by(Lead.route_id, Lead.source)
    )
    counts: dict[tuple[int, str | None], list[int]] = {}
    for kind, result in ((0, visit_counts), (1, lead_counts)):
        for route_id, source, number in result.all():
            if route_id is None:
                continue
            for key in ((route_id, source), (route_id, None)):
                counts.setdefault(key, [0, 0])[kind] += number

    experiments: dict[str | None, list[Any]] = {}
    for route in routes:
        experiments.setdefault(route.source, []).append(route)
    rows: list[VariantRow] = []
    for experiment, members in experiments.items():
        member_ids = {route.id for route in members}
        seen = {seen_source for (route_id, seen_source) in counts if route_id in member_ids}
        buckets: list[str | None] = [None, *sorted(seen - {None}, key=source_rank)]
        for bucket in buckets:
            arms = [counts.get((route.id, bucket), [0, 0]) for route in members]
            chances = (
                p_best([(leads, visits) for visits, leads in arms]) if len(members) > 1 else None
            )
            for index, route in enumerate(members):
                visits, leads = arms[index]
                rows.append(
                    VariantRow(
                        experiment=experiment,
                        source=bucket,
                        route_id=route.id,
                        variant=route.variant,
                        page=route.slug,
                        visits=visits,
                        leads=leads,
                        interval=wilson_interval(leads, visits),
                        p_best=chances[index] if chances else None,
                    )
                )
    return VariantReport(start, end, rows)


async def handles_with_experiments(session: AsyncSession, sight: Sight) -> set[int]:
    """The handles in `sight` that run an A/B test: two or more routes for the same source
    (one query; a page shows `variant_report` only for these)."""
    rows = await session.execute(
        select(Route.handle_id)
        .where(visible_only(Route.handle_id, sight))
        .group_by(Route.handle_id, Route.source)
        .having(func.count() > 1)
    )
    return set(rows.scalars())
