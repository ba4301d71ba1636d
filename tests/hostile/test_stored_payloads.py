"""Stored payloads (cases.py `STORED_IN_LEADS`, `STORED_IN_PAGES`): XSS, SQL-looking text and
spreadsheet formulas go in through every entry a visitor or a key holder has, and come out
verbatim through the API, escaped in every HTML page and email that shows them, and neutralised
in every CSV cell a spreadsheet could run; storing one changes nothing but the new lead.

SQL-looking text and formulas in a lead run on every backend (what the database keeps decides
them); XSS payloads run once, on SQLite: what is rendered does not depend on the backend, and
the other cases show that text goes in and out of both unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import select

from app.delivery.models import OutboxMessage
from app.leads.models import Lead
from tests.factories import bearer
from tests.hostile.cases import NEW_LEAD, STORED_IN_LEADS, STORED_IN_PAGES, XSS_IN_LEADS, Stored
from tests.hostile.world import World, changed_tables, problems_in_log

FORM_TOKEN = re.compile(r'name="a" value="([^"]+)"')
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1"
FORMULA_STARTS = ("=", "+", "-", "@")
SCRIPT_SCHEMES = ("javascript:", "data:", "vbscript:")
ROLLUPS = {"lead_rollups", "report_days", "report_months"}
CSV_COLUMN = {"opt-in-name": "name", "api-name": "name", "visit-campaign": "campaign",
              "api-medium": "medium"}  # fmt: skip


class _Runnable(HTMLParser):
    """Collects what in a page could run: a script that is not one of this server's files, a
    frame that is not a page of this server, an object or embed, an event-handler
    attribute (on any element: an injected `<svg onload>` or `<img onerror>`), a link or frame
    to a script URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script" and not values.get("src", "").startswith("/static/"):
            self.found.append("<script>")
        source = values.get("src", "")
        local_frame = source == "" or (source.startswith("/") and not source.startswith("//"))
        if (tag == "iframe" and not local_frame) or tag in {"object", "embed"}:
            self.found.append(f"<{tag}>")
        self.found += [f"{tag} {name}=" for name in values if name.startswith("on")]
        for name in ("href", "src", "action", "formaction"):
            target = values.get(name, "").strip().lower()
            if target.startswith(SCRIPT_SCHEMES) and not (tag == "link" and name == "href"):
                self.found.append(f"{tag} {name}={target[:30]}")


def _leaks(html: str, payload: str) -> list[str]:
    """How `html` shows `payload` unescaped, or anything that would run, if it does."""
    parser = _Runnable()
    parser.feed(html)
    problems = [f"runnable {found}" for found in parser.found]
    if ("<" in payload or "&" in payload) and payload in html:
        problems.append("the raw payload")
    return problems


async def _aged_form_token(world: World, page_html: str) -> str:
    token = FORM_TOKEN.search(page_html)
    assert token is not None, "no form on the page"
    values, issued = world.signer.unsign_fields(token.group(1))
    return world.signer.sign_fields(values, now=issued - 5)


async def _store_lead(world: World, stored: Stored, email: str) -> None:
    """Make a lead carrying `stored.payload` through its entry."""
    entry, payload = stored.entry, stored.payload
    if entry.startswith("api-"):
        body: dict[str, Any] = {"email": email, "page": "guide"}
        if entry == "api-name":
            body["name"] = payload
        elif entry == "api-field":
            body["fields"] = {"company": payload}
        else:
            body["medium"] = payload
        response = await world.client.post(
            "/api/v1/leads", json=body, headers=bearer(world.keys["admin"])
        )
        assert response.status_code == 201, response.text
        return
    token = world.attribution()
    if entry == "visit-campaign":
        visit = await world.client.get(
            "/@anna", params={"utm_campaign": payload}, headers={"User-Agent": BROWSER}
        )
        assert visit.status_code == 200
        assert not _leaks(visit.text, payload), "the landing page shows the campaign"
        token = await _aged_form_token(world, visit.text)
    form = {"a": token, "email": email, "consent": "yes", "website": ""}
    if entry == "opt-in-name":
        form["name"] = payload
    elif entry == "opt-in-field":
        form["f_company"] = payload
    response = await world.client.post("/p/guide", data=form)
    assert response.status_code == 303, response.text[:500]


def _api_value(lead: dict[str, Any], entry: str) -> Any:
    if entry in {"opt-in-field", "api-field"}:
        return lead["fields"].get("company")
    return lead[{"visit-campaign": "campaign", "api-medium": "medium"}.get(entry, "name")]


def _csv_problems(text: str, email: str, stored: Stored) -> list[str]:
    """The lead's CSV row has as many cells as the header, and the payload's cell holds it
    verbatim, behind a quote when a spreadsheet would run it."""
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    mine = [row for row in rows[1:] if row[header.index("email")] == email]
    if len(mine) != 1 or len(mine[0]) != len(header):
        return [f"the CSV has {len(mine)} rows for the lead, of {[len(r) for r in mine]} cells"]
    cells = dict(zip(header, mine[0], strict=True))
    if stored.entry in CSV_COLUMN:
        cell = cells[CSV_COLUMN[stored.entry]]
        payload = stored.payload
        expected = "'" + payload if payload.startswith(FORMULA_STARTS) else payload
        return [] if cell == expected else [f"CSV cell {cell!r}, expected {expected!r}"]
    fields = json.loads(cells["fields"])
    if fields.get("company") != stored.payload:
        return [f"CSV fields {cells['fields']!r}"]
    return []


async def _lead_views(world: World, stored: Stored, lead_id: int) -> dict[str, httpx.Response]:
    """Where the value is looked for: markup on the admin's pages (the table shows names),
    SQL-looking text through the API and on the lead's page, formulas in both CSV exports."""
    owner = world.admin_headers()
    key = bearer(world.keys["admin"])
    wanted = {
        "xss": ("admin detail", "admin list")
        if stored.entry.endswith("name")
        else ("admin detail",),
        "sql": ("API", "admin detail"),
        "formula": ("API", "admin CSV", "API CSV"),
    }[stored.kind]
    paths = {
        "admin list": ("/admin/leads", owner),
        "admin detail": (f"/admin/leads/{lead_id}", owner),
        "admin CSV": ("/admin/leads/export.csv", owner),
        "API CSV": ("/api/v1/leads/export.csv", key),
        "API": (f"/api/v1/leads/{lead_id}", key),
    }
    return {name: await world.client.get(paths[name][0], headers=paths[name][1]) for name in wanted}


async def _emails_of(world: World, lead_id: int) -> list[dict[str, Any]]:
    rows = await world.connection.execute(
        select(OutboxMessage.payload).where(
            OutboxMessage.lead_id == lead_id, OutboxMessage.kind == "email"
        )
    )
    return [payload for (payload,) in rows.all()]


@pytest.mark.parametrize("stored", [pytest.param(s, id=s.id) for s in STORED_IN_LEADS])
async def test_a_stored_lead_value_is_kept_verbatim_and_shown_safely(
    world: World, stored: Stored, caplog: pytest.LogCaptureFixture
) -> None:
    await _check_lead_value(world, stored, caplog)


@pytest.mark.parametrize("stored", [pytest.param(s, id=s.id) for s in XSS_IN_LEADS])
async def test_markup_in_a_lead_value_is_shown_escaped(
    http_world: World, stored: Stored, caplog: pytest.LogCaptureFixture
) -> None:
    await _check_lead_value(http_world, stored, caplog)


async def _check_lead_value(world: World, stored: Stored, caplog: pytest.LogCaptureFixture) -> None:
    email = f"stored-{zlib.crc32(stored.id.encode())}@example.com"
    problems: list[str] = []
    savepoint = await world.connection.begin_nested()
    try:
        world.client.cookies.clear()
        await _store_lead(world, stored, email)
        changed = changed_tables(world.baseline, await world.snapshot())
        found = await world.connection.execute(select(Lead.id).where(Lead.email == email))
        lead_id = found.scalar_one()
        views = await _lead_views(world, stored, lead_id)
        emails = await _emails_of(world, lead_id)
    finally:
        await savepoint.rollback()
        world.forget_caches()
    # Only the new lead's rows are added; nothing is removed or changed but the counters.
    removed = {
        name: how
        for name, how in changed.items()
        if not how.endswith("-0 rows") and name not in ROLLUPS
    }
    if removed or not set(changed) <= NEW_LEAD or changed.get("leads") != "+1 -0 rows":
        problems.append(f"storing it changed {changed}")
    for name, response in views.items():
        if response.status_code != 200:
            problems.append(f"{name}: status {response.status_code}")
        elif name == "API" and _api_value(response.json(), stored.entry) != stored.payload:
            problems.append(f"stored as {_api_value(response.json(), stored.entry)!r}")
        elif name.startswith("admin") and not name.endswith("CSV"):
            problems += [f"{name}: {leak}" for leak in _leaks(response.text, stored.payload)]
        elif name.endswith("CSV"):
            problems += [f"{name}: {p}" for p in _csv_problems(response.text, email, stored)]
    detail = views.get("admin detail")
    if detail is not None and str(escape(stored.payload)) not in detail.text:
        problems.append("the lead's page does not show the value")
    for message in emails:
        problems += [f"email: {leak}" for leak in _leaks(message["html"], stored.payload)]
        if "\r" in message["subject"] or "\n" in message["subject"]:
            problems.append(f"email subject {message['subject']!r}")
    problems += problems_in_log(caplog.records)
    assert not problems, f"{stored.id}: " + "; ".join(problems)


PAGE_VIEWS = {
    "landing page": ("/p/guide", False),
    "one link": ("/@anna", False),
    "gift page": ("/g/{gift}", False),
    "confirmed page": ("/c/{confirm}", False),  # confirming queues the gift email, read after
    "admin editor": ("/admin/pages/{guide_page_id}", True),
    "admin pages": ("/admin/pages", True),
    "admin handles": ("/admin/handles", True),
}


def _page_views_of(entry: str) -> set[str]:
    """The pages that show a text of the page: the editor shows them all; visitors see the
    gift's texts after confirming, the others on the landing page."""
    if entry in {"gift_title", "text-gift"}:
        return {"gift page", "confirmed page", "admin editor"}
    if entry == "display_name":
        return {"landing page", "one link", "admin handles"}
    if entry == "title":
        return {"landing page", "one link", "admin editor", "admin pages"}
    return {"landing page", "admin editor"}


def _page_change(stored: Stored) -> tuple[str, dict[str, Any]]:
    """Where and what to send to store the payload in one of the page's texts."""
    payload = stored.payload
    if stored.entry == "display_name":
        return "/api/v1/handles/anna", {"display_name": payload}
    if stored.entry == "field-label":
        return "/api/v1/pages/guide", {
            "custom_fields": [{"key": "company", "label": payload, "type": "text"}]
        }
    if stored.entry == "text-gift":
        return "/api/v1/pages/guide", {"gift_kind": "text", "gift_value": payload}
    return "/api/v1/pages/guide", {stored.entry: payload}


@pytest.mark.parametrize("stored", [pytest.param(s, id=s.id) for s in STORED_IN_PAGES])
async def test_a_stored_page_text_is_shown_safely_everywhere(
    http_world: World, stored: Stored, caplog: pytest.LogCaptureFixture
) -> None:
    world = http_world
    owner = world.admin_headers()
    savepoint = await world.connection.begin_nested()
    try:
        world.client.cookies.clear()
        path, change = _page_change(stored)
        changed = await world.client.patch(path, json=change, headers=bearer(world.keys["admin"]))
        assert changed.status_code == 200, changed.text
        world.forget_caches()
        views = {
            name: await world.client.get(world.fill(path), headers=owner if admin else {})
            for name, (path, admin) in PAGE_VIEWS.items()
            if name in _page_views_of(stored.entry)
        }
        emails = await _emails_of(world, int(world.values["pending_lead"]))
    finally:
        await savepoint.rollback()
        world.forget_caches()
    problems = []
    for name, response in views.items():
        if response.status_code != 200:
            problems.append(f"{name}: status {response.status_code}")
        problems += [f"{name}: {leak}" for leak in _leaks(response.text, stored.payload)]
    for message in emails:
        problems += [f"email: {leak}" for leak in _leaks(message["html"], stored.payload)]
    problems += problems_in_log(caplog.records)
    assert not problems, f"{stored.id}: " + "; ".join(problems)
