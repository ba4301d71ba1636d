"""`leadlink report`, `leadlink metrics …` and `leadlink rollups …`: the like-to-lead report,
social-metric imports and the rollups behind them, from the command line."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from app.command import CommandScope, command_group, err, fail, out, progress, with_database
from app.handles import service as handles
from app.reports import charts, platform_exports
from app.reports import rollups as report_rollups
from app.reports import service as reports

__all__ = ["metrics_cli", "report", "rollups_cli"]

metrics_cli = command_group("Social-metric snapshots (likes, followers, …) per day.")
rollups_cli = command_group("The daily visit rollups behind the report.")

_TEXT_COLUMNS = {"source", "day", "week", "page", "page_id"}
# Short headings (on two lines where that is narrower), so the report fits 80 columns.
_HEADINGS = {
    "page_id": "page\nid",
    "unique_visitors": "unique\nvisitors",
    "confirmed_leads": "con-\nfirmed",
    "customers": "cus-\ntomers",
    "visit_to_lead": "visit\n→lead",
    "like_to_lead": "like\n→lead",
    "lead_to_customer": "lead\n→cust.",
}
# Left out of the table unless `--wide` (the CSV always has every column).
_WIDE_ONLY = {"page_id", "followers", "unique_visitors", "previews", "confirmed_leads"}


def _report_cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):  # the rates: the admin report's formatting
        return charts.format_rate(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _date_option(value: str | None, option: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        fail(f"{option} must be a date like 2026-11-22, not {value!r}")


@with_database
async def report(
    cmd: CommandScope,
    handle: Annotated[
        str | None, typer.Option(metavar="NAME", help="A handle; default: every handle.")
    ] = None,
    page: Annotated[str | None, typer.Option(metavar="SLUG", help="Only this page.")] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", metavar="DAY", help="First day, YYYY-MM-DD (default: 27 days ago)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", metavar="DAY", help="Last day (default: today).")
    ] = None,
    group_by: Annotated[
        str, typer.Option(metavar="GROUPING", help=f"One of: {', '.join(reports.GROUPINGS)}.")
    ] = "source",
    source: Annotated[str | None, typer.Option(metavar="SOURCE", help="Only this source.")] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV on stdout instead of a table.")
    ] = False,
    wide: Annotated[
        bool,
        typer.Option("--wide", help="Every column (followers, unique visitors, previews, …)."),
    ] = False,
) -> None:
    """The like-to-lead report, as a table or CSV.

    Likes, visits, leads, customers and the rates between them; `--wide` adds followers,
    unique visitors, previews and confirmed leads, and `--csv` has every column.
    """
    tz = cmd.settings.report_tz
    last = _date_option(end, "--to") or datetime.now(ZoneInfo(tz)).date()
    first = _date_option(start, "--from") or last - timedelta(days=27)
    found_handle, found_page = await reports.resolve_scope(
        cmd.session, visible=None, handle=handle, page=page
    )
    result = await reports.conversion_report(
        cmd.session,
        handle=found_handle,
        page=found_page,
        start=first,
        end=last,
        group_by=group_by,
        source=source,
        tz=tz,
    )
    if as_csv:
        sys.stdout.write(reports.report_csv(result))
        return
    scope = f"@{handle}" if handle else f"/p/{page}" if page else "all handles"
    by_source = group_by in {"source", "source,day"}  # else every row's source is "—"
    columns = [
        name
        for name in result.totals.fields_for(group_by)
        if (wide or name not in _WIDE_ONLY) and (by_source or name != "source")
    ]
    table = Table(
        title=f"{scope}, {first} to {last} ({tz})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        caption=None if wide else "--wide for followers, unique visitors, previews, confirmed",
    )
    for name in columns:
        table.add_column(
            _HEADINGS.get(name, name),
            justify="left" if name in _TEXT_COLUMNS else "right",
            no_wrap=True,
        )
    for row in result.rows:
        fields = row.fields_for(group_by)
        table.add_row(*(_report_cell(fields[name]) for name in columns))
    totals = result.totals.fields_for(group_by)
    table.add_row(
        *("total" if i == 0 else _report_cell(totals[n]) for i, n in enumerate(columns)),
        style="bold",
    )
    out.print(table)


_FORMAT_KEYS = ", ".join(key for key, _label in platform_exports.format_choices())


@metrics_cli.command("import")
@with_database
async def metrics_import(
    cmd: CommandScope,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help="leadlink's CSV (date,platform,likes,followers,impressions,comments,shares) "
            "or a platform's analytics export.",
        ),
    ],
    handle: Annotated[str, typer.Option(metavar="NAME", help="The handle the numbers belong to.")],
    export_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help=f"The file's format: {_FORMAT_KEYS}.",
        ),
    ] = platform_exports.DETECT,
) -> None:
    """Import daily social-metric snapshots.

    The format is recognised by the file's header: leadlink's CSV, or the export of YouTube
    Studio, TikTok Studio or Meta Business Suite. In leadlink's CSV bad lines are reported and
    good ones kept; a platform's export is all or nothing. Importing a file again changes nothing.
    """
    if export_format not in dict(platform_exports.format_choices()):
        fail(f"unknown --format {export_format!r}; use one of: {_FORMAT_KEYS}")
    try:
        text = platform_exports.decode_export(file.read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    found = await handles.get_handle(cmd.session, handle)
    today = datetime.now(ZoneInfo(cmd.settings.report_tz)).date()
    with progress(f"importing {file.name}", total=len(text.splitlines()) + 1) as line_done:
        result = await platform_exports.import_metrics_file(
            cmd.session,
            found,
            text,
            chosen=export_format,
            today=today,
            all_or_nothing=False,
            line_done=line_done,
        )
    await cmd.commit()
    if result.is_leadlink_csv:
        out.print(f"{result.imported} rows imported for @{handle} from {file}", highlight=False)
    elif not result.errors:
        out.print(
            f"{result.imported} days of {result.platform} imported for @{handle} from {file} "
            f"({result.label}, {result.first} to {result.last})",
            highlight=False,
        )
    for line, message in result.errors:
        err.print(f"line {line}: {escape(message)}", highlight=False)
    if result.errors and result.is_leadlink_csv:
        fail(f"{len(result.errors)} lines skipped (the other rows were kept)")
    if result.errors:
        fail(f"nothing imported from {file}: the file was refused")


@rollups_cli.command("rebuild")
@with_database
async def rollups_rebuild(cmd: CommandScope) -> None:
    """Recount the daily rollups from the raw visits.

    Days are counted in LEADLINK_REPORT_TZ: run it after changing the report time zone.
    Days whose raw visits were pruned (LEADLINK_VISIT_RETENTION_DAYS) keep their rollups.
    """
    tz = cmd.settings.report_tz
    with progress("rebuilding rollups", total=report_rollups.REBUILD_STEPS) as step_done:
        result = await report_rollups.rebuild_rollups(cmd.session, tz, step_done=step_done)
    await cmd.commit()
    out.print(
        f"rollups rebuilt for {tz}: {result.redated_visits} visits moved to "
        f"another day, {result.rollup_rows} rollup rows",
        highlight=False,
    )
