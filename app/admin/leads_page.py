"""The leads table's filters: the query string checked against what the owner sees, turned into
the `LeadFilter` that the table, its pages and its CSV export share.

A value that is not one of the owner's (a handle or page out of sight, an unknown source, a bad
date) is dropped with a note next to the form, like the report page does; the note never repeats
the value, so a name out of sight is not echoed back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.handles import service as handles
from app.handles.models import Handle
from app.handles.visibility import Sight, sees
from app.leads.models import LeadStatus
from app.leads.queries import LeadFilter
from app.links.sources import CANONICAL_SOURCES
from app.pages import service as pages
from app.pages.models import Page

__all__ = [
    "CONSENT_CHOICES",
    "PAGE_SIZE",
    "STATUSES",
    "Choices",
    "LeadsFilters",
    "load_choices",
    "parse_filters",
    "visible_ids",
]

PAGE_SIZE = 50
STATUSES = tuple(status.value for status in LeadStatus)
CONSENT_CHOICES = (("", "Any"), ("yes", "Yes"), ("no", "No"))
MAX_SEARCH_LENGTH = 320
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Choices:
    """What the filter form offers: the owner's handles and pages, the sources and statuses."""

    handles: Sequence[Handle]
    pages: Sequence[Page]
    sources: Sequence[str] = CANONICAL_SOURCES
    statuses: Sequence[str] = STATUSES
    consent: Sequence[tuple[str, str]] = CONSENT_CHOICES


async def load_choices(session: AsyncSession, sight: Sight) -> Choices:
    visible_handles = await handles.list_handles(session, sight=sight)
    visible_pages = [
        page for page in await pages.list_pages(session) if sees(sight, page.handle_id)
    ]
    return Choices(visible_handles, sorted(visible_pages, key=lambda page: page.slug))


@dataclass(frozen=True, slots=True)
class LeadsFilters:
    """The filters in force (the values kept, as the form shows them) and the notes about the
    ones dropped."""

    values: Mapping[str, str]
    lead_filter: LeadFilter
    notes: Mapping[str, str] = field(default_factory=dict)

    def query(self, **extra: str) -> str:
        """The query string of these filters (plus `extra`), for links that keep them."""
        pairs = {name: value for name, value in self.values.items() if value}
        pairs.update(extra)
        return urlencode(pairs)

    @property
    def active(self) -> bool:
        return any(self.values.values())


def visible_ids(sight: Sight) -> frozenset[int] | None:
    """The owner's sight as the leads services take it."""
    return None if sight is None else frozenset(sight)


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


class _Parser:
    """Collects the kept values, the notes and the filter, one field at a time."""

    def __init__(self, raw: Mapping[str, str], sight: Sight) -> None:
        self.raw = raw
        self.values: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        self.lead_filter = LeadFilter(visible=visible_ids(sight), newest_first=True)

    def get(self, name: str) -> str:
        return self.raw.get(name, "").strip()

    def search(self) -> None:
        text = self.get("q")[:MAX_SEARCH_LENGTH]
        if _CONTROL.search(text):
            # No address or name holds one (and PostgreSQL refuses a NUL in a query).
            self.notes["q"] = "A search cannot contain control characters: showing every lead."
        elif text:
            self.values["q"] = text
            self.lead_filter = replace(self.lead_filter, search=text.lower())

    def named(self, choices: Choices) -> None:
        name = self.get("handle").lower().removeprefix("@")
        handle = next((h for h in choices.handles if h.name == name), None) if name else None
        if handle is not None:
            self.values["handle"] = handle.name
            self.lead_filter = replace(self.lead_filter, handle_id=handle.id)
        elif name:
            self.notes["handle"] = "That handle is not one of yours: showing every handle."
        slug = self.get("page").lower()
        page = next((p for p in choices.pages if p.slug == slug), None) if slug else None
        if page is not None:
            self.values["page"] = page.slug
            self.lead_filter = replace(self.lead_filter, page_id=page.id)
        elif slug:
            self.notes["page"] = "That page is not one of yours: showing every page."

    def listed(self, choices: Choices) -> None:
        source = self.get("source").lower()
        if source in choices.sources:
            self.values["source"] = source
            self.lead_filter = replace(self.lead_filter, source=source)
        elif source:
            self.notes["source"] = "Pick a source from the list: showing every source."
        status = self.get("status").lower()
        if status in choices.statuses:
            self.values["status"] = status
            self.lead_filter = replace(self.lead_filter, status=status)
        elif status:
            self.notes["status"] = "Pick a status from the list: showing every status."
        consent = self.get("consent").lower()
        if consent in {"yes", "no"}:
            self.values["consent"] = consent
            self.lead_filter = replace(self.lead_filter, newsletter_consent=consent == "yes")
        elif consent:
            self.notes["consent"] = "Newsletter consent is yes, no or any: showing any."

    def days(self, tz: str) -> None:
        start, end = _day(self.get("from")), _day(self.get("to"))
        for name, day in (("from", start), ("to", end)):
            if self.get(name) and day is None:
                self.notes[name] = f"The {name!r} date must be a day like 2026-12-06: left out."
        if start and end and end < start:
            self.notes["to"] = "The 'to' day is before the 'from' day: the range was left out."
            start = end = None
        zone = ZoneInfo(tz)
        if start:
            self.values["from"] = start.isoformat()
            self.lead_filter = replace(self.lead_filter, created_from=_start_of(start, zone))
        if end:
            self.values["to"] = end.isoformat()
            before = _start_of(end + timedelta(days=1), zone)
            self.lead_filter = replace(self.lead_filter, created_before=before)


def parse_filters(
    raw: Mapping[str, str], choices: Choices, *, sight: Sight, tz: str
) -> LeadsFilters:
    """Check each filter of the query string; see the module docstring. Days are days of the
    report time zone (`tz`), both ends included."""
    parser = _Parser(raw, sight)
    parser.search()
    parser.named(choices)
    parser.listed(choices)
    parser.days(tz)
    return LeadsFilters(parser.values, parser.lead_filter, parser.notes)
