"""`leadlink handles …`: create handles and route their visitors from the command line;
`leadlink visits prune`: remove raw visits older than the retention."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from app.command import (
    CommandScope,
    command_group,
    engine_or_fail,
    out,
    run,
    settings_or_fail,
    with_database,
)
from app.config import Settings
from app.db import Database, utcnow
from app.handles import service as handles
from app.links import retention
from app.links import service as links

__all__ = ["handles_cli", "visits_cli"]

handles_cli = command_group("Create handles (the name in /@name) and route their visitors.")
visits_cli = command_group("Raw visits: prune the ones past the retention (rollups stay).")

HandleArgument = Annotated[str, typer.Argument(metavar="NAME", help="The handle.")]


@handles_cli.command("create")
@with_database
async def handles_create(
    cmd: CommandScope,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The handle: a-z, 0-9, '.', '_', '-'.")
    ],
    display_name: Annotated[
        str, typer.Option(metavar="TEXT", help="The name shown to visitors.")
    ] = "",
) -> None:
    """Create a handle; its one link is BASE_URL/@NAME."""
    handle = await links.create_handle(cmd.session, name, display_name=display_name)
    await cmd.commit()
    out.print(f"handle created: {cmd.settings.base_url}/@{handle.name}", highlight=False)


@handles_cli.command("list")
@with_database
async def handles_list(cmd: CommandScope) -> None:
    """List handles with their one link and number of routes."""
    table = Table("handle", "one link", "routes")
    for handle in await handles.list_handles(cmd.session):
        routes = await links.list_routes(cmd.session, handle)
        table.add_row(handle.name, f"{cmd.settings.base_url}/@{handle.name}", str(len(routes)))
    out.print(table)


@handles_cli.command("show")
@with_database
async def handles_show(cmd: CommandScope, name: HandleArgument) -> None:
    """Show a handle's default page and its routes."""
    handle = await handles.get_handle(cmd.session, name)
    # The API's read model: pages named by their slugs, looked up in one query.
    shown = await links.handle_read(cmd.session, handle, cmd.settings.base_url)
    table = Table("route", "source", "variant", "weight", "target")
    for route in shown.routes:
        table.add_row(
            route.id,
            route.source or "any",
            route.variant,
            str(route.weight),
            route.url or f"page {route.page}",
        )
    out.print(f"@{name}: default page {shown.default_page or 'none'}", highlight=False)
    out.print(table)


@handles_cli.command("default")
@with_database
async def handles_default(
    cmd: CommandScope,
    name: HandleArgument,
    page: Annotated[str, typer.Option(metavar="SLUG", help="Slug of one of the handle's pages.")],
) -> None:
    """Set the page every visitor gets when no route applies."""
    await links.set_default_page(cmd.session, await handles.get_handle(cmd.session, name), page)
    await cmd.commit()
    out.print(f"@{name} now opens /p/{page} by default", highlight=False)


@handles_cli.command("route")
@with_database
async def handles_route(
    cmd: CommandScope,
    name: HandleArgument,
    source: Annotated[
        str | None,
        typer.Option(metavar="SOURCE", help="Only visitors from this source (e.g. tiktok, ig)."),
    ] = None,
    page: Annotated[
        str | None, typer.Option(metavar="SLUG", help="Send them to this page.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(metavar="URL", help="Or redirect them (302) to this URL.")
    ] = None,
    weight: Annotated[
        int, typer.Option(metavar="N", help="Share among routes of the same source.")
    ] = 1,
    variant: Annotated[
        str | None, typer.Option(metavar="NAME", help="A/B variant name in reports.")
    ] = None,
) -> None:
    """Add a route to a page or an external URL.

    Per-source pages, external redirects (302) and weighted A/B variants.
    """
    route = await links.add_route(
        cmd.session,
        await handles.get_handle(cmd.session, name),
        source=source,
        page_slug=page,
        target_url=url,
        weight=weight,
        variant=variant,
    )
    await cmd.commit()
    out.print(f"route {route.id} added to @{name}", highlight=False)


@handles_cli.command("unroute")
@with_database
async def handles_unroute(
    cmd: CommandScope,
    name: HandleArgument,
    route_id: Annotated[
        int, typer.Argument(metavar="ROUTE_ID", help="The route's id (see `handles show`).")
    ],
) -> None:
    """Remove a route."""
    await links.remove_route(cmd.session, await handles.get_handle(cmd.session, name), route_id)
    await cmd.commit()
    out.print(f"route {route_id} removed from @{name}", highlight=False)


@visits_cli.command("prune")
def visits_prune(
    older_than: Annotated[
        int | None,
        typer.Option(min=1, metavar="DAYS", help="Instead of LEADLINK_VISIT_RETENTION_DAYS."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be removed.")
    ] = False,
) -> None:
    """Delete raw visits older than the retention.

    Every report, dashboard and API figure comes from the rollups, which stay: no number
    changes. On PostgreSQL whole months go (their partitions are dropped), so raw visits
    are kept up to a month longer than DAYS. The worker runs this once a day.
    """
    settings = settings_or_fail()
    days = settings.visit_retention_days if older_than is None else older_than
    if days == 0:
        out.print(
            "LEADLINK_VISIT_RETENTION_DAYS=0 keeps raw visits forever: nothing pruned "
            "(--older-than DAYS prunes anyway)",
            highlight=False,
        )
        return
    result = run(_prune(settings, days, dry_run=dry_run))
    before = result.kept_from.isoformat()
    verb = "would be" if result.dry_run else "were"
    out.print(
        f"{'dry run: ' if result.dry_run else ''}{result.visits_deleted:,} raw visits from "
        f"before {before} {verb} removed; the rollups keep their counts",
        highlight=False,
    )
    if result.partitions_dropped:
        names = ", ".join(result.partitions_dropped)
        out.print(f"monthly partitions {verb} dropped: {names}", highlight=False)


async def _prune(settings: Settings, days: int, *, dry_run: bool) -> retention.PruneResult:
    database = Database(engine_or_fail(settings))
    try:
        zone = ZoneInfo(settings.report_tz)
        result = await retention.run_retention(
            database, days, zone, now=utcnow(), force=True, dry_run=dry_run
        )
    finally:
        await database.dispose()
    assert result is not None  # forced: always runs
    return result
