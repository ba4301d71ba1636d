"""`leadlink handles …` as a creator runs it: create a handle, point it at pages and URLs, look at
it, undo a route; and every mistake ends with one clear line and exit status 1.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.db import create_engine
from app.handles.models import Handle
from app.links import service as links
from app.links.models import Route
from app.pages import service as pages
from app.pages.models import Page
from tests.cli_runner import leadlink_env, run_leadlink
from tests.conftest import make_settings

BASE_URL = "https://links.example.com"


def _database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'cli.db'}"


async def _prepare(data_dir: Path, *, with_handle: bool) -> None:
    """Migrate the CLI's database; optionally add handle `demo` with pages (no page CLI yet)."""
    engine = create_engine(make_settings(data_dir, _database_url(data_dir)))
    try:
        await migrations.upgrade(engine)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            anna = await links.create_handle(session, "anna")
            for slug in ("gift-a", "gift-b"):
                await pages.publish_page(
                    session, await pages.create_page(session, anna, slug=slug, title=slug)
                )
            if with_handle:
                demo = await links.create_handle(session, "demo")
                await pages.publish_page(
                    session, await pages.create_page(session, demo, slug="demo", title="Demo")
                )
            await session.commit()
    finally:
        await engine.dispose()


async def _state(data_dir: Path, name: str) -> tuple[str | None, list[tuple[str | None, ...]]]:
    """The handle's default page slug and its routes (source, variant, weight, page, url)."""
    engine = create_engine(make_settings(data_dir, _database_url(data_dir)))
    try:
        async with AsyncSession(engine) as session:
            handle = await session.scalar(select(Handle).where(Handle.name == name))
            assert handle is not None
            default = await session.scalar(
                select(Page.slug).where(Page.id == handle.default_page_id)
            )
            rows = await session.execute(
                select(Route.source, Route.variant, Route.weight, Page.slug, Route.target_url)
                .outerjoin(Page, Page.id == Route.page_id)
                .where(Route.handle_id == handle.id)
                .order_by(Route.id)
            )
            return default, [(s, v, str(w), p, u) for s, v, w, p, u in rows]
    finally:
        await engine.dispose()


def _env(data_dir: Path) -> dict[str, str]:
    return leadlink_env(data_dir, LEADLINK_BASE_URL=BASE_URL)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_create_route_show_and_unroute_a_handle(tmp_path: Path) -> None:
    asyncio.run(_prepare(tmp_path, with_handle=False))
    env = _env(tmp_path)

    created = _ok(run_leadlink("handles", "create", "@Maya", "--display-name", "Maya", env=env))
    assert created.strip() == f"handle created: {BASE_URL}/@maya"

    # Anna's pages exist (pages are created elsewhere); route her visitors.
    default = _ok(run_leadlink("handles", "default", "anna", "--page", "gift-b", env=env))
    assert default.strip() == "@anna now opens /p/gift-b by default"
    tiktok = _ok(
        run_leadlink(
            "handles", "route", "anna", "--source", "tt", "--page", "gift-a",
            "--variant", "tiktok-a", "--weight", "3", env=env,
        )
    )  # fmt: skip
    match = re.fullmatch(r"route (\d+) added to @anna", tiktok.strip())
    assert match is not None, tiktok
    tiktok_route = match.group(1)
    shop = _ok(
        run_leadlink(
            "handles", "route", "anna", "--url", "https://shop.example.com/spring?x=1", env=env
        )
    )
    assert re.fullmatch(r"route \d+ added to @anna", shop.strip()), shop

    shown = _ok(run_leadlink("handles", "show", "anna", env=env))
    assert shown.splitlines()[0] == "@anna: default page gift-b"
    tiktok_row = next(line for line in shown.splitlines() if f" {tiktok_route} " in line)
    for cell in ("tiktok", "tiktok-a", "3", "page"):
        assert cell in tiktok_row
    assert "https://shop.example.com/spring?x=1" in shown
    assert asyncio.run(_state(tmp_path, "anna")) == (
        "gift-b",
        [
            ("tiktok", "tiktok-a", "3", "gift-a", None),
            (None, "external", "1", None, "https://shop.example.com/spring?x=1"),
        ],
    )

    removed = _ok(run_leadlink("handles", "unroute", "anna", tiktok_route, env=env))
    assert removed.strip() == f"route {tiktok_route} removed from @anna"
    listed = _ok(run_leadlink("handles", "list", env=env))
    anna_row = next(line for line in listed.splitlines() if " anna " in line)
    assert f"{BASE_URL}/@anna" in anna_row
    assert anna_row.split()[-2:] == ["1", "│"]
    assert " maya " in listed
    assert asyncio.run(_state(tmp_path, "anna")) == (
        "gift-b",
        [(None, "external", "1", None, "https://shop.example.com/spring?x=1")],
    )


MISTAKES = [
    (("handles", "create", "admin"), "The handle 'admin' is reserved; choose another."),
    (("handles", "create", "bad name!"), "A handle uses letters a-z, digits"),
    (("handles", "create", "Demo"), "The handle 'demo' is already taken."),
    (
        ("handles", "route", "demo", "--url", "javascript:alert(1)"),
        "Only http:// and https:// URLs can be targets.",
    ),
    (("handles", "route", "demo", "--source", "myspace", "--page", "demo"), "Unknown source"),
    (
        ("handles", "route", "demo", "--page", "demo", "--url", "https://example.com/"),
        "A route points to exactly one of a page or a URL.",
    ),
    (("handles", "route", "demo", "--page", "gift-a"), "The handle 'demo' has no page 'gift-a'."),
    (("handles", "default", "demo", "--page", "nope"), "The handle 'demo' has no page 'nope'."),
    (("handles", "show", "nobody"), "There is no handle 'nobody'."),
    (("handles", "unroute", "demo", "999"), "There is no such route."),
]


def test_every_mistake_prints_one_clear_line_and_exits_1(tmp_path: Path) -> None:
    asyncio.run(_prepare(tmp_path, with_handle=True))
    env = _env(tmp_path)

    # Each invocation starts a Python process; run them side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: run_leadlink(*case[0], env=env), MISTAKES))

    for (args, message), result in zip(MISTAKES, results, strict=True):
        where = " ".join(args)
        assert result.returncode == 1, (where, result.stdout, result.stderr)
        assert result.stdout == "", where
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (where, result.stderr)
        assert lines[0].startswith("error: "), (where, lines[0])
        assert message in lines[0], (where, lines[0])
        assert "Traceback" not in result.stderr
    # None of the mistakes changed anything.
    assert asyncio.run(_state(tmp_path, "demo")) == ("demo", [])


def test_handles_without_a_migrated_database_say_so(tmp_path: Path) -> None:
    result = run_leadlink("handles", "create", "newbie", env=_env(tmp_path))

    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
