"""What the dashboard and the handle pages show about a handle: its one link and per-platform
links with their QR codes, its routing rules with each one's share of visitors, and its A/B
results; plus the parsing of the routing forms through the API's own schemas, so the admin
refuses exactly what the API refuses, with the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError

from app.errors import AppError, NotFound
from app.links import qr_codes
from app.links.models import Route
from app.links.schemas import HandleCreate, RouteCreate
from app.links.sources import canonical_source, link_alias, platform_sources
from app.pages.models import Page, PageStatus
from app.pages.schemas import field_errors
from app.reports import charts
from app.reports.variants import VariantReport, VariantRow

__all__ = [
    "RESULT_DAYS",
    "Experiment",
    "LinkView",
    "NoSuchLink",
    "RuleView",
    "errors_of",
    "experiments_of",
    "last_days",
    "link_url",
    "links_of",
    "parse_handle_form",
    "parse_route_form",
    "parse_weight",
    "qr_source",
    "rule_views",
    "running_sources",
    "source_label",
]

RESULT_DAYS = 30
"""The dashboard's numbers and the A/B results cover the last this many days."""

ANY_SOURCE = "any source"


def last_days(today: date, days: int = RESULT_DAYS) -> tuple[date, date]:
    return today - timedelta(days=days - 1), today


def source_label(source: str | None) -> str:
    return source if source is not None else ANY_SOURCE


def link_url(base_url: str, handle_name: str, source: str | None = None) -> str:
    """The one link (`/@anna`) or a platform's link (`/@anna/ig`)."""
    url = f"{base_url}/@{handle_name}"
    return f"{url}/{link_alias(source)}" if source else url


@dataclass(frozen=True, slots=True)
class LinkView:
    """A link ready to copy, with its QR code inline and as downloads."""

    source: str | None
    label: str
    url: str
    dom_id: str
    qr: Markup
    svg_href: str
    png_href: str


def _link_view(base_url: str, handle_name: str, source: str | None) -> LinkView:
    url = link_url(base_url, handle_name, source)
    query = f"?source={source}" if source else ""
    label = "One link" if source is None else source
    return LinkView(
        source=source,
        label=label,
        url=url,
        dom_id=f"link-{handle_name}-{source or 'all'}".replace(".", "-"),
        qr=Markup(  # noqa: S704 - segno escapes the title; the rest is numbers
            qr_codes.qr_svg(url, title=f"QR code of {url}", inline=True)
        ),
        svg_href=f"/admin/handles/{handle_name}/qr.svg{query}",
        png_href=f"/admin/handles/{handle_name}/qr.png{query}",
    )


def links_of(base_url: str, handle_name: str) -> tuple[LinkView, list[LinkView]]:
    """The one link and the link of every platform, each with its QR code."""
    return _link_view(base_url, handle_name, None), [
        _link_view(base_url, handle_name, source) for source in platform_sources()
    ]


def qr_source(raw: str | None) -> str | None:
    """The canonical source a QR download asks for (None: the one link), or `NoSuchLink`."""
    if not raw:
        return None
    source = canonical_source(raw)
    if source is None:
        raise NoSuchLink
    return source


class NoSuchLink(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such link.")


@dataclass(frozen=True, slots=True)
class RuleView:
    """A routing rule as the handle page lists it."""

    id: int
    source: str | None
    target: str
    is_page: bool
    variant: str
    weight: int
    share: str
    draft: bool


def rule_views(routes: Sequence[Route], pages: Sequence[Page]) -> list[RuleView]:
    """The rules by source (any source last), each with its share of its source's visitors."""
    by_id = {page.id: page for page in pages}
    totals: dict[str | None, int] = {}
    for route in routes:
        totals[route.source] = totals.get(route.source, 0) + route.weight
    views = []
    for route in sorted(routes, key=lambda r: (r.source is None, r.source or "", r.id)):
        page = by_id.get(route.page_id) if route.page_id is not None else None
        total = totals[route.source]
        views.append(
            RuleView(
                id=route.id,
                source=route.source,
                target=page.slug if page is not None else route.target_url or "",
                is_page=route.page_id is not None,
                variant=route.variant,
                weight=route.weight,
                share=charts.format_rate(route.weight / total if total else 0.0),
                draft=page is not None and page.status != PageStatus.PUBLISHED.value,
            )
        )
    return views


@dataclass(frozen=True, slots=True)
class ResultRow:
    route_id: int
    variant: str
    target: str
    visits: str
    leads: str
    rate: str
    interval: str
    p_best: str
    weight: int


@dataclass(frozen=True, slots=True)
class Experiment:
    """The routes of one source that compete for its visitors, and how each did."""

    source: str | None
    rows: list[ResultRow]
    by_visitor_source: list[tuple[str, ResultRow]] = field(default_factory=list)
    has_data: bool = False
    active_variants: int = 0

    @property
    def label(self) -> str:
        return source_label(self.source)

    @property
    def running(self) -> bool:
        return self.has_data and self.active_variants > 1


def _result_row(row: VariantRow, weights: Mapping[int, int]) -> ResultRow:
    low_high = row.interval
    return ResultRow(
        route_id=row.route_id,
        variant=row.variant,
        target=row.page or "external URL",
        visits=charts.format_count(row.visits),
        leads=charts.format_count(row.leads),
        rate=charts.format_rate(row.visit_to_lead),
        interval=(
            f"{charts.format_rate(low_high[0])} to {charts.format_rate(low_high[1])}"
            if low_high
            else "—"
        ),
        p_best=charts.format_rate(row.p_best) if row.p_best is not None else "—",
        weight=weights.get(row.route_id, 0),
    )


def experiments_of(report: VariantReport, routes: Sequence[Route]) -> list[Experiment]:
    """The A/B tests of a handle: every source with two or more routes, with the variants
    report's rows over all its visitors and per visitor source."""
    weights = {route.id: route.weight for route in routes}
    grouped: dict[str | None, list[VariantRow]] = {}
    for row in report.rows:
        grouped.setdefault(row.experiment, []).append(row)
    experiments = []
    for source, rows in grouped.items():
        overall = [row for row in rows if row.source is None]
        if len(overall) < 2:
            continue
        experiments.append(
            Experiment(
                source=source,
                rows=[_result_row(row, weights) for row in overall],
                by_visitor_source=[
                    (row.source, _result_row(row, weights))
                    for row in rows
                    if row.source is not None
                ],
                has_data=any(row.visits or row.leads for row in overall),
                active_variants=sum(1 for row in overall if weights.get(row.route_id, 0) > 0),
            )
        )
    return sorted(experiments, key=lambda e: (e.source is None, e.source or ""))


def running_sources(experiments: Sequence[Experiment]) -> set[str | None]:
    """The sources whose A/B test has data and more than one variant still in play."""
    return {experiment.source for experiment in experiments if experiment.running}


def errors_of(exc: AppError, renames: Mapping[str, str] | None = None) -> dict[str, str]:
    """A domain error's field messages by form field (the first message of each field)."""
    errors: dict[str, str] = {}
    for error in exc.errors:
        name = (renames or {}).get(error.field, error.field)
        errors.setdefault(name, error.message)
    return errors or {"form": exc.detail}


def _blank_to_none(values: Mapping[str, str]) -> dict[str, Any]:
    return {name: (value.strip() or None) for name, value in values.items()}


def parse_route_form(values: Mapping[str, str]) -> RouteCreate:
    """The add-a-rule form, checked by the API's schema (`ValidationFailed` naming fields)."""
    data = _blank_to_none(values)
    if data.get("weight") is None:
        data.pop("weight", None)
    try:
        return RouteCreate.model_validate(data)
    except ValidationError as exc:
        raise field_errors(exc) from None


def parse_handle_form(values: Mapping[str, str]) -> HandleCreate:
    """The new-handle form, checked by the API's schema."""
    try:
        return HandleCreate.model_validate(dict(values))
    except ValidationError as exc:
        raise field_errors(exc) from None


def parse_weight(raw: str) -> int:
    """A weight from the edit form, through the API's schema for a route's weight."""
    try:
        return RouteCreate.model_validate({"page": "x", "weight": raw.strip()}).weight
    except ValidationError as exc:
        raise field_errors(exc) from None
