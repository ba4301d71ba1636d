"""Pruning raw visits changes no figure: the API's report and A/B variants, the admin's report,
dashboard and handle page, and `leadlink report` read the same before and after
`leadlink visits prune`, after a `leadlink rollups rebuild`, and (in total) after a rebuild into
another time zone, on SQLite and on partitioned PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from app.config import Settings
from app.db import Database, create_engine, utcnow
from app.links import partitions, retention
from app.links import service as links
from app.links.visits import VisitRecord, write_visits
from app.pages import service as pages
from app.users import service as users
from tests.admin.admin_helpers import sign_in
from tests.apps import build_app
from tests.cli_runner import invoke_leadlink
from tests.databases import make_settings
from tests.factories import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    bearer,
    insert_lead,
    issue_key,
    make_visit,
)
from tests.servers import serve_env

RETENTION_DAYS = 40
DAYS_OF_VISITS = 180
UTC_ZONE = ZoneInfo("UTC")
CSRF = re.compile(r'name="csrf_token" value="[^"]+"')


@dataclass(frozen=True)
class Seeded:
    key: str
    records: list[VisitRecord]
    start: date
    end: date


async def _seed(settings: Settings, now: datetime) -> Seeded:
    """A handle running an A/B test of two pages for `DAYS_OF_VISITS` days: visits of both
    variants, of the default page, previews and a few leads; an owner and a reports key. On
    PostgreSQL the past months' partitions exist (the worker makes them as months come)."""
    database = Database(create_engine(settings))
    today = now.date()
    records = []
    try:
        async with database.session() as session:
            handle = await links.create_handle(session, "anna")
            page_a = await pages.create_page(session, handle, slug="anna-a", title="A")
            page_b = await pages.create_page(session, handle, slug="anna-b", title="B")
            for page in (page_a, page_b):
                await pages.publish_page(session, page)
            await links.set_default_page(session, handle, "anna-a")
            routes = [
                await links.add_route(
                    session, handle, source="tiktok", page_slug=page.slug, variant=page.slug
                )
                for page in (page_a, page_b)
            ]
            await users.create_user(session, OWNER_EMAIL, OWNER_PASSWORD)
            key = await issue_key(session, ["reports:read"])
            for days_ago in range(0, DAYS_OF_VISITS, 3):
                route = routes[days_ago % 2]
                page = page_a if route is routes[0] else page_b
                await insert_lead(
                    session, page, now - timedelta(days=days_ago), source="tiktok",
                    route_id=route.id, variant=route.variant,
                )  # fmt: skip
            if database.dialect_name == "postgresql":
                oldest = today - timedelta(days=DAYS_OF_VISITS)
                await partitions.ensure_months(session, partitions.month_start(oldest), 7)
            await session.commit()
        for days_ago in range(DAYS_OF_VISITS):
            at = now - timedelta(days=days_ago, minutes=30)
            for n in range(2 + days_ago % 3):
                route = routes[n % 2]
                records.append(
                    make_visit(
                        handle.id, route.page_id, at, UTC_ZONE, source="tiktok",
                        route_id=route.id, variant=route.variant,
                    )
                )  # fmt: skip
            # 02:00 UTC is the evening before in New York: a rebuild there moves these.
            early = datetime.combine(today - timedelta(days=days_ago + 1), time(2), UTC)
            records.append(make_visit(handle.id, page_a.id, early, UTC_ZONE, source="instagram"))
            records.append(make_visit(handle.id, None, at, UTC_ZONE, kind="preview"))
        async with database.session() as session:
            await write_visits(session, records)
            await session.commit()
    finally:
        await database.dispose()
    start = today - timedelta(days=DAYS_OF_VISITS + 5)
    return Seeded(key, records, start, today + timedelta(days=1))


async def _shown(settings: Settings, seeded: Seeded) -> dict[str, Any]:
    """What the API and the admin show for the seeded range."""
    app = build_app(settings)
    shown: dict[str, Any] = {}
    span = {"from": seeded.start.isoformat(), "to": seeded.end.isoformat()}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for group in ("source", "day", "week", "page", "source,day"):
                answer = await client.get(
                    "/api/v1/reports/conversion",
                    params={"handle": "anna", "group_by": group, **span},
                    headers=bearer(seeded.key),
                )
                assert answer.status_code == 200, answer.text
                shown[f"API report by {group}"] = answer.json()
            variants = await client.get(
                "/api/v1/reports/variants",
                params={"handle": "anna", **span},
                headers=bearer(seeded.key),
            )
            assert variants.status_code == 200, variants.text
            shown["API variants"] = variants.json()
            assert (await sign_in(client)).status_code == 303
            for path, params in (
                ("/admin/report", {"handle": "anna", **span}),
                ("/admin", {}),
                ("/admin/handles/anna", {}),
            ):
                page = await client.get(path, params=params)
                assert page.status_code == 200, page.text
                shown[f"admin {path}"] = CSRF.sub("", page.text)
    return shown


def _report_csv(env: dict[str, str], seeded: Seeded, *options: str) -> str:
    span = ("--from", seeded.start.isoformat(), "--to", seeded.end.isoformat())
    result = invoke_leadlink("report", "--handle", "anna", *span, "--csv", *options, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _everything(settings: Settings, env: dict[str, str], seeded: Seeded) -> dict[str, Any]:
    shown = asyncio.run(_shown(settings, seeded))
    shown["CLI report"] = _report_csv(env, seeded)
    shown["CLI report by day"] = _report_csv(env, seeded, "--group-by", "day")
    return shown


def _totals(shown: dict[str, Any]) -> tuple[Any, ...]:
    """The range's totals and the variants' visits and leads, whatever day each visit is on."""
    total = shown["API report by source"]["totals"]
    variants = sorted(
        (row["variant"], row["visits"], row["leads"])
        for row in shown["API variants"]["rows"]
        if row["source"] is None
    )
    return (total, variants, list(csv.reader(io.StringIO(shown["CLI report"])))[-1])


async def _refs(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return set((await connection.scalars(text("SELECT ref FROM visits"))).all())
    finally:
        await engine.dispose()


def test_every_figure_is_the_same_after_pruning_and_rebuilding(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        users, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    env = serve_env(tmp_path, LEADLINK_DATABASE_URL=empty_database_url)
    assert invoke_leadlink("migrate", env=env).exit_code == 0
    settings = make_settings(tmp_path, empty_database_url)
    now = utcnow()
    seeded = asyncio.run(_seed(settings, now))
    partitioned = empty_database_url.startswith("postgresql")
    cutoff = retention.kept_from(now.date(), RETENTION_DAYS, whole_months=partitioned)
    kept = {record.ref for record in seeded.records if record.day >= cutoff}
    old = len(seeded.records) - len(kept)
    before = _everything(settings, env, seeded)
    assert before["API report by source"]["totals"]["visits"] > 0

    prune = ("visits", "prune", "--older-than", str(RETENTION_DAYS))
    dry = invoke_leadlink(*prune, "--dry-run", env=env)
    assert dry.exit_code == 0, dry.output
    assert f"dry run: {old:,} raw visits from before {cutoff} would be removed" in dry.stdout
    assert asyncio.run(_refs(settings)) == {record.ref for record in seeded.records}

    pruned = invoke_leadlink(*prune, env=env)
    assert pruned.exit_code == 0, pruned.output
    assert f"{old:,} raw visits from before {cutoff} were removed" in pruned.stdout
    assert ("monthly partitions were dropped: visits_" in pruned.stdout) is partitioned
    assert asyncio.run(_refs(settings)) == kept
    assert _everything(settings, env, seeded) == before

    rebuilt = invoke_leadlink("rollups", "rebuild", env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert _everything(settings, env, seeded) == before

    # Another report time zone: the raw rows left are re-dated, the pruned days' rollups stay
    # as they were; every visit still counts once.
    new_york = {**env, "LEADLINK_REPORT_TZ": "America/New_York"}
    assert invoke_leadlink("rollups", "rebuild", env=new_york).exit_code == 0
    moved = _everything(
        make_settings(tmp_path, empty_database_url, report_tz="America/New_York"),
        new_york,
        seeded,
    )
    assert _totals(moved) == _totals(before)
    assert moved["API report by day"] != before["API report by day"]  # the days did move
