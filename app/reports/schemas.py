"""What the report and social-metrics API reads and writes: a report row and its totals, an A/B
variant row, a social-metric snapshot (in and out) and a page of snapshots."""

from __future__ import annotations

import re
from datetime import date as Date  # noqa: N812 - `date` is the API's field name
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, StringConstraints
from pydantic_core import PydanticCustomError

from app.links.sources import CANONICAL_SOURCES
from app.reports import service as reports
from app.reports import social_metrics, variants
from app.reports.models import SocialMetric

__all__ = [
    "ConversionReportRead",
    "ConversionRowRead",
    "GroupByName",
    "IsoDate",
    "MetricUpsertResult",
    "PlatformName",
    "SocialMetricIn",
    "SocialMetricList",
    "SocialMetricRead",
    "VariantReportRead",
    "VariantRowRead",
]

PlatformName = Literal[CANONICAL_SOURCES]  # type: ignore[valid-type]
GroupByName = Literal["source", "day", "week", "page", "source,day"]
MAX_BATCH = 1000


def _json_number(value: object) -> object:
    # A count is a JSON number: lax validation would store `true` as 1 and read "7" as 7.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("int_type", "A whole number.")
    return value


Count = Annotated[
    int, Field(ge=0, le=social_metrics.MAX_METRIC_VALUE), BeforeValidator(_json_number)
]
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    # Only `YYYY-MM-DD`: lax validation would read `0` or `1700000000` as a Unix time.
    if isinstance(value, Date) or (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("iso_date", "A date as YYYY-MM-DD, e.g. 2026-11-22.")


IsoDate = Annotated[Date, BeforeValidator(_iso_date)]

_ROW_EXAMPLE: dict[str, JsonValue] = {
    "source": "instagram",
    "likes": 12840,
    "followers": 5210,
    "visits": 1450,
    "unique_visitors": 1302,
    "previews": 96,
    "leads": 187,
    "confirmed_leads": 151,
    "customers": 12,
    "visit_to_lead": 0.129,
    "like_to_lead": 0.0146,
    "lead_to_customer": 0.0642,
}
_TOTALS_EXAMPLE: dict[str, JsonValue] = {
    **_ROW_EXAMPLE,
    "source": None,
    "likes": 20110,
    "followers": 9870,
    "visits": 2300,
    "unique_visitors": 2071,
    "previews": 140,
    "leads": 251,
    "confirmed_leads": 199,
    "customers": 15,
    "visit_to_lead": 0.1091,
    "like_to_lead": 0.0125,
    "lead_to_customer": 0.0598,
}


class ConversionRowRead(BaseModel):
    """One group of the report. The group's key comes first: `day` (group_by day or
    source,day), `week` (the Monday starting it), or `page` and `page_id` (page null: visits
    that went to an external URL); then exactly the report's fields (docs/reports.md). Rates are
    fractions of 0..1, or null when their denominator is 0 or unknown."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ROW_EXAMPLE]})

    day: Date | None = None
    week: Date | None = None
    page: str | None = None
    page_id: str | None = None
    source: str | None = Field(description="The canonical source; null when not grouped by it.")
    likes: int | None = Field(description="Summed over the range; null: no snapshot knows it.")
    followers: int | None = Field(
        description="The latest known count in the group per platform (not a sum over days)."
    )
    visits: int
    unique_visitors: int = Field(description="Daily unique visitors, summed over the days.")
    previews: int = Field(description="Link-preview fetches and crawlers; never visits.")
    leads: int = Field(description="Leads created in the range (erased ones included).")
    confirmed_leads: int = Field(description="Of those leads, the ones that confirmed.")
    customers: int = Field(description="Of those leads, the ones a CRM marked as customers.")
    visit_to_lead: float | None
    like_to_lead: float | None
    lead_to_customer: float | None

    @classmethod
    def from_row(cls, row: reports.ReportRow, group_by: str) -> ConversionRowRead:
        """Exactly the fields of `group_by`'s rows (the others stay unset)."""
        values = row.fields_for(group_by)
        if "page_id" in values:
            values["page_id"] = None if row.page_id is None else str(row.page_id)
        return cls(**values)


class ConversionReportRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"rows": [_ROW_EXAMPLE], "totals": _TOTALS_EXAMPLE, "customers_without_lead": 4}
            ]
        }
    )

    rows: list[ConversionRowRead]
    totals: ConversionRowRead = Field(
        description="Every row together (source null unless filtered)."
    )
    customers_without_lead: int | None = Field(
        description=(
            "Distinct buyers a connected shop reported in the range whose address matched no "
            "lead (docs/integrations.md); null for a report of one page or one source."
        )
    )

    @classmethod
    def from_report(cls, report: reports.Report) -> ConversionReportRead:
        """The report with exactly the row fields of its grouping (read with exclude_unset)."""
        return cls(
            rows=[ConversionRowRead.from_row(row, report.group_by) for row in report.rows],
            totals=ConversionRowRead.from_row(report.totals, "source"),
            customers_without_lead=report.customers_without_lead,
        )


class VariantRowRead(BaseModel):
    """One variant (route) of an experiment, for one visit source or, with `source` null, all."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "experiment": "instagram",
                    "source": None,
                    "variant": "short-form",
                    "route_id": "12",
                    "page": "free-guide-b",
                    "visits": 812,
                    "leads": 97,
                    "visit_to_lead": 0.1195,
                    "visit_to_lead_low": 0.0989,
                    "visit_to_lead_high": 0.1436,
                    "p_best": 0.931,
                }
            ]
        }
    )

    experiment: str | None = Field(
        description="The routes' source (null: the routes for any source); variants of one "
        "experiment compete with each other."
    )
    source: str | None = Field(description="The visitors' source; null: all sources together.")
    variant: str
    route_id: str
    page: str | None = Field(description="The variant's page slug; null for an external URL.")
    visits: int
    leads: int
    visit_to_lead: float | None
    visit_to_lead_low: float | None = Field(description="95 % Wilson interval, lower end.")
    visit_to_lead_high: float | None = Field(description="95 % Wilson interval, upper end.")
    p_best: float | None = Field(
        description="Probability that this variant has the highest visit-to-lead rate of its "
        "experiment (Beta-Binomial posterior, Monte Carlo); null for a lone variant."
    )

    @classmethod
    def from_row(cls, row: variants.VariantRow) -> VariantRowRead:
        return cls(
            experiment=row.experiment,
            source=row.source,
            variant=row.variant,
            route_id=str(row.route_id),
            page=row.page,
            visits=row.visits,
            leads=row.leads,
            visit_to_lead=row.visit_to_lead,
            visit_to_lead_low=row.interval[0] if row.interval else None,
            visit_to_lead_high=row.interval[1] if row.interval else None,
            p_best=row.p_best,
        )


class VariantReportRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rows": [
                        {
                            "experiment": "instagram",
                            "source": None,
                            "variant": "short-form",
                            "route_id": "12",
                            "page": "free-guide-b",
                            "visits": 812,
                            "leads": 97,
                            "visit_to_lead": 0.1195,
                            "visit_to_lead_low": 0.0989,
                            "visit_to_lead_high": 0.1436,
                            "p_best": 0.931,
                        }
                    ]
                }
            ]
        }
    )

    rows: list[VariantRowRead]

    @classmethod
    def from_report(cls, report: variants.VariantReport) -> VariantReportRead:
        return cls(rows=[VariantRowRead.from_row(row) for row in report.rows])


_SNAPSHOT_EXAMPLE: dict[str, JsonValue] = {
    "handle": "anna",
    "platform": "instagram",
    "date": "2026-11-21",
    "likes": 1840,
    "followers": 5210,
    "impressions": 40210,
    "comments": 96,
    "shares": 31,
}


class SocialMetricIn(BaseModel):
    """One day of a platform's numbers for a handle. A number left out (or null) is unknown
    and keeps what was stored for that day."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SNAPSHOT_EXAMPLE]})

    handle: Annotated[str, StringConstraints(min_length=1, max_length=31)]
    platform: PlatformName
    date: Annotated[
        Date, Field(ge=reports.FIRST_DAY, le=reports.LAST_DAY), BeforeValidator(_iso_date)
    ]
    likes: Count | None = None
    followers: Count | None = None
    impressions: Count | None = None
    comments: Count | None = None
    shares: Count | None = None


class SocialMetricRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "301",
                    "handle_id": "1",
                    **_SNAPSHOT_EXAMPLE,
                    "updated_at": "2026-11-22T08:15:00Z",
                }
            ]
        }
    )

    id: str
    handle: str
    handle_id: str
    platform: str
    date: Date
    likes: int | None
    followers: int | None
    impressions: int | None
    comments: int | None
    shares: int | None
    updated_at: datetime

    @classmethod
    def from_row(cls, metric: SocialMetric, handle_name: str) -> SocialMetricRead:
        return cls(
            id=str(metric.id),
            handle=handle_name,
            handle_id=str(metric.handle_id),
            platform=metric.platform,
            date=metric.day,
            likes=metric.likes,
            followers=metric.followers,
            impressions=metric.impressions,
            comments=metric.comments,
            shares=metric.shares,
            updated_at=metric.updated_at,
        )


class SocialMetricList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "301",
                            "handle_id": "1",
                            **_SNAPSHOT_EXAMPLE,
                            "updated_at": "2026-11-22T08:15:00Z",
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[SocialMetricRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class MetricUpsertResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"upserted": 2}]})

    upserted: int = Field(description="Distinct (handle, platform, date) snapshots written.")


SocialMetricBatch = Annotated[
    list[SocialMetricIn],
    Field(
        min_length=1,
        max_length=MAX_BATCH,
        examples=[[_SNAPSHOT_EXAMPLE, {**_SNAPSHOT_EXAMPLE, "platform": "tiktok", "likes": 920}]],
    ),
]
