"""The platforms' own analytics exports, uploaded as the owner downloaded them: recognised by
their header, their columns mapped to the report's daily numbers, and stored with the same
upsert as leadlink's CSV.

Recognised (docs/integrations.md, "Analytics exports", says where each format comes from):

- YouTube Studio, Advanced mode, "Table data" split by Date: `Date` first, then YouTube's
  metric names (`Views`, `Watch time (hours)`, `Likes`, `Comments added`, `Shares`,
  `Impressions`, `Subscribers`…) and a `Total` row.
- TikTok Studio, Overview: `Date, Video Views, Profile Views, Likes, Comments, Shares`
  (newer files add `New followers`); dates without a year (`September 25`).
- TikTok Studio, Follower history: `Date, Followers, Difference in followers from previous day`.
- Meta Business Suite, one metric per file: UTF-16 with a `sep=,` line, the metric's name,
  then `Date, Primary` with `2026-11-01T00:00:00` dates.

A file is read whole before anything is stored: one bad cell refuses the file, every problem
named by line and column. A number the export does not have stays unknown (never 0); a column
leadlink does not keep (profile views, watch time, new follows per day…) is ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from app.handles.models import Handle
from app.handles.visibility import Sight
from app.reports import social_metrics
from app.reports.service import FIRST_DAY, LAST_DAY

__all__ = [
    "DETECT",
    "FORMATS",
    "LEADLINK",
    "ExportFormat",
    "ExportRefused",
    "ExportRows",
    "FileImport",
    "decode_export",
    "format_choices",
    "import_metrics_file",
    "read_export",
]

DETECT = "detect"
LEADLINK = "leadlink"
LEADLINK_LABEL = "leadlink's CSV"
# At most this many problems are listed: a wrong file has one on every line.
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class ExportFormat:
    key: str
    label: str
    platform: str | None  # None: the file says (Meta's title), or the owner does
    # The export's column, lower case → the report's number.
    columns: Mapping[str, str]


YOUTUBE_STUDIO = ExportFormat(
    "youtube-studio",
    "YouTube Studio (Advanced mode, Table data by Date)",
    "youtube",
    {
        "likes": "likes",
        "comments added": "comments",
        "shares": "shares",
        "impressions": "impressions",
    },
)
TIKTOK_OVERVIEW = ExportFormat(
    "tiktok-overview",
    "TikTok Studio, Overview",
    "tiktok",
    {"likes": "likes", "comments": "comments", "shares": "shares", "video views": "impressions"},
)
TIKTOK_FOLLOWERS = ExportFormat(
    "tiktok-followers", "TikTok Studio, Follower history", "tiktok", {"followers": "followers"}
)
# Meta's file has one metric, named on its second line; `Primary` is its value.
META_METRICS = {"views": "impressions"}
META_INSTAGRAM = ExportFormat(
    "meta-instagram", "Meta Business Suite, Instagram (one metric per file)", "instagram", {}
)
META_FACEBOOK = ExportFormat(
    "meta-facebook", "Meta Business Suite, Facebook (one metric per file)", "facebook", {}
)
META_ANY = ExportFormat("meta", "Meta Business Suite (one metric per file)", None, {})
FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (YOUTUBE_STUDIO, TIKTOK_OVERVIEW, TIKTOK_FOLLOWERS, META_INSTAGRAM, META_FACEBOOK)
}
# YouTube Studio's own column names: a `Date` file with one of them is YouTube's.
YOUTUBE_ONLY_COLUMNS = frozenset(
    {
        "watch time (hours)",
        "comments added",
        "subscribers",
        "subscribers gained",
        "subscribers lost",
        "average view duration",
        "impressions click-through rate (%)",
    }
)
# Meta's metrics leadlink does not keep, with the reason the owner is told.
META_NOT_KEPT = {
    "follows": "new follows per day, while the report's followers are a total",
    "content interactions": "likes, comments, shares and saves together, not likes",
    "viewers": "people, not views",
    "reach": "people, not views",
    "visits": "profile visits",
    "link clicks": "link clicks",
}
TOTAL_ROWS = frozenset({"total", "totals"})
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")
_MONTH_FIRST = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2})(?:,?\s+(\d{4}))?")
_DAY_FIRST = re.compile(r"(\d{1,2})\s+([A-Za-z]+)\.?(?:,?\s+(\d{4}))?")


class ExportRefused(ValueError):
    """The file cannot be imported; `problems` are (line, sentence), nothing was stored."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        super().__init__("; ".join(f"line {line}: {text}" for line, text in problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class ExportRows:
    """What an export says: its format, the platform, and the numbers per day."""

    format: ExportFormat
    platform: str
    days: dict[date, dict[str, int | None]]
    columns: list[str]  # the export's columns that were read, as the file names them


@dataclass(frozen=True, slots=True)
class FileImport:
    """What an upload stored: `days` of `platform` from a `label` file (leadlink's CSV: lines)."""

    label: str
    platform: str | None
    imported: int
    errors: list[tuple[int, str]] = field(default_factory=list)
    first: date | None = None
    last: date | None = None

    @property
    def is_leadlink_csv(self) -> bool:
        return self.label == LEADLINK_LABEL


def format_choices() -> list[tuple[str, str]]:
    """(key, label) of every choice the upload offers, "detect" first."""
    return [
        (DETECT, "Detect from the file's header"),
        (LEADLINK, "leadlink's CSV (date, platform, likes, …)"),
        *((f.key, f.label) for f in FORMATS.values()),
    ]


def decode_export(raw: bytes) -> str:
    """The file's text: UTF-16 when it starts with a UTF-16 byte-order mark (Meta's exports),
    else UTF-8 with or without one. `UnicodeDecodeError` when it is neither."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")


@dataclass
class _Records:
    rows: list[tuple[int, list[str]]]  # (line, cells), blank lines left out


def _records(text: str, line_done: Callable[[], None]) -> _Records:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            line_done()
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        raise ExportRefused([(reader.line_num, f"not readable as CSV: {exc}")]) from None
    return _Records(rows)


def _lower(cells: Sequence[str]) -> list[str]:
    return [" ".join(cell.lower().split()) for cell in cells]


def _is_leadlink_header(cells: Sequence[str]) -> bool:
    names = _lower(cells)
    return "date" in names and "platform" in names


def _detect(records: _Records) -> tuple[ExportFormat, int]:
    """The format a file's first lines show, and the index of its header record."""
    if not records.rows:
        raise ExportRefused([(1, "the file is empty")])
    first = _lower(records.rows[0][1])
    if ",".join(first).replace(" ", "") == "sep=,":  # Excel's separator line: ["sep=", ""]
        return META_ANY, 2
    if first[:2] == ["date", "primary"]:
        return META_ANY, 0
    if _is_leadlink_header(first):
        raise ExportRefused(
            [(records.rows[0][0], "this is leadlink's CSV (date, platform, …): choose that format")]
        )
    if first[:1] == ["date"]:
        names = set(first)
        if {"video views", "profile views"} <= names:
            return TIKTOK_OVERVIEW, 0
        if {"followers", "difference in followers from previous day"} <= names:
            return TIKTOK_FOLLOWERS, 0
        if names & YOUTUBE_ONLY_COLUMNS or {"views", "likes"} <= names:
            return YOUTUBE_STUDIO, 0
    shown = ",".join(records.rows[0][1])[:120]
    raise ExportRefused(
        [
            (
                records.rows[0][0],
                f"this header is not one leadlink recognises ({shown!r}): upload leadlink's "
                "CSV, a YouTube Studio Table data by Date, a TikTok Studio Overview or "
                "Follower history, or a Meta Business Suite metric export",
            )
        ]
    )


def read_export(
    text: str, chosen: str, today: date, *, line_done: Callable[[], None] | None = None
) -> ExportRows:
    """Read a platform's export (`chosen`: a key of FORMATS, or DETECT) into numbers per day.

    `today` dates the days an export gives without a year: the latest such day not after
    `today`. Raises `ExportRefused` naming every problem (up to MAX_PROBLEMS)."""
    records = _records(text, line_done or _no_progress)
    found, header_at = _detect(records)
    if found is META_ANY:
        return _read_meta(records, header_at, chosen, today)
    if chosen not in (DETECT, found.key):
        raise ExportRefused(
            [(records.rows[0][0], f"this is a {found.label} export, not {_label(chosen)}")]
        )
    header_line, header = records.rows[header_at]
    names = _lower(header)
    wanted = {
        index: found.columns[name] for index, name in enumerate(names) if name in found.columns
    }
    if not wanted:
        kept = ", ".join(name.title() for name in found.columns)
        raise ExportRefused(
            [
                (
                    header_line,
                    f"this {found.label} export has none of the columns leadlink keeps ({kept})",
                )
            ]
        )
    days = _read_days(records.rows[header_at + 1 :], header, wanted, today)
    assert found.platform is not None
    return ExportRows(found, found.platform, days, [header[i] for i in sorted(wanted)])


def _label(key: str) -> str:
    return FORMATS[key].label if key in FORMATS else LEADLINK_LABEL


def _read_meta(records: _Records, header_at: int, chosen: str, today: date) -> ExportRows:
    rows = records.rows
    if header_at == 0 or len(rows) < 3:
        raise ExportRefused(
            [
                (
                    1,
                    "this Meta Business Suite export lacks its first two lines (sep=, and the "
                    "metric's name): upload the file as downloaded",
                )
            ]
        )
    title_line, title_cells = rows[1]
    header_line, header = rows[2]
    if _lower(header)[:2] != ["date", "primary"]:
        raise ExportRefused(
            [(header_line, "a Meta Business Suite export's third line is Date,Primary")]
        )
    title = " ".join(" ".join(title_cells).split())
    metric = title.lower()
    platform: str | None = None
    for prefix, name in (("instagram ", "instagram"), ("facebook ", "facebook")):
        if metric.startswith(prefix):
            platform, metric = name, metric.removeprefix(prefix)
    if chosen in (META_INSTAGRAM.key, META_FACEBOOK.key):
        said = FORMATS[chosen].platform
        if platform is not None and platform != said:
            raise ExportRefused([(title_line, f"this export is {title!r}, not {said}'s")])
        platform = said
    elif chosen != DETECT:
        raise ExportRefused([(1, f"this is a Meta Business Suite export, not {_label(chosen)}")])
    if metric in META_NOT_KEPT:
        raise ExportRefused(
            [
                (
                    title_line,
                    f"{title!r} is {META_NOT_KEPT[metric]}: leadlink does not keep it "
                    "(Views are kept, as impressions)",
                )
            ]
        )
    if metric not in META_METRICS:
        raise ExportRefused(
            [(title_line, f"{title[:60]!r} is not a Meta metric leadlink keeps (Views are kept)")]
        )
    if platform is None:
        raise ExportRefused(
            [
                (
                    title_line,
                    f"this Meta Business Suite export ({title!r}) does not say which "
                    "platform it is: choose Instagram or Facebook as its format",
                )
            ]
        )
    days = _read_days(rows[3:], header, {1: META_METRICS[metric]}, today, column_names={1: title})
    found = META_INSTAGRAM if platform == "instagram" else META_FACEBOOK
    return ExportRows(found, platform, days, [title])


@dataclass
class _Day:
    line: int
    month: int
    day: int
    year: int | None
    numbers: dict[str, int | None]


def _read_days(
    rows: Sequence[tuple[int, list[str]]],
    header: Sequence[str],
    wanted: Mapping[int, str],
    today: date,
    *,
    column_names: Mapping[int, str] | None = None,
) -> dict[date, dict[str, int | None]]:
    problems: list[tuple[int, str]] = []
    read: list[_Day] = []
    names = {index: (column_names or {}).get(index, header[index]) for index in wanted}
    for line, cells in rows:
        if cells[0].lower() in TOTAL_ROWS:
            continue
        if len(cells) > len(header):
            problems.append((line, f"{len(cells)} values for {len(header)} columns"))
            continue
        try:
            month, day, year = _day_of(cells[0])
        except ValueError as exc:
            problems.append((line, f"column {header[0]!r}: {exc}"))
            continue
        numbers: dict[str, int | None] = {}
        for index, number in wanted.items():
            cell = cells[index] if index < len(cells) else ""
            try:
                numbers[number] = _count(cell, names[index])
            except ValueError as exc:
                problems.append((line, str(exc)))
        read.append(_Day(line, month, day, year, numbers))
    days = _dated(read, today, problems)
    if problems:
        problems.sort(key=lambda problem: problem[0])
        raise ExportRefused(problems[:MAX_PROBLEMS])
    return days


def _dated(
    read: list[_Day], today: date, problems: list[tuple[int, str]]
) -> dict[date, dict[str, int | None]]:
    """The rows' days, each once. A day without a year is the latest such day not after
    `today`, counting back through the file (its rows run oldest to newest)."""
    days: dict[date, dict[str, int | None]] = {}
    lines: dict[date, int] = {}
    year = today.year
    later: tuple[int, int] = (today.month, today.day)
    for row in reversed(read):
        if row.year is None:
            if (row.month, row.day) > later:
                year -= 1
            later = (row.month, row.day)
            row_year = year
        else:
            row_year = row.year
        try:
            day = date(row_year, row.month, row.day)
        except ValueError:
            problems.append(
                (row.line, f"there is no day {row.day} in month {row.month} of {row_year}")
            )
            continue
        if not FIRST_DAY <= day <= LAST_DAY:
            problems.append((row.line, f"{day} is not between {FIRST_DAY} and {LAST_DAY}"))
        elif day in days:
            problems.append(
                (
                    row.line,
                    f"{day} is also on line {lines[day]}: export one line per day "
                    "(a chart split by video or country has several)",
                )
            )
        else:
            days[day], lines[day] = row.numbers, row.line
    return days


def _day_of(raw: str) -> tuple[int, int, int | None]:
    """(month, day, year or None) of a date as the exports write it."""
    value = raw.strip().strip('"')
    _refuse_formula(value)
    if match := _ISO_DAY.fullmatch(value):
        return int(match[2]), int(match[3]), int(match[1])
    for pattern, month_at, day_at in ((_MONTH_FIRST, 1, 2), (_DAY_FIRST, 2, 1)):
        if (match := pattern.fullmatch(value)) and match[month_at].lower() in MONTHS:
            year = int(match[3]) if match[3] else None
            return MONTHS[match[month_at].lower()], int(match[day_at]), year
    raise ValueError(
        f"{value[:40]!r} is not a date (2026-11-01, Nov 1, 2026 or November 1 are read)"
    )


def _refuse_formula(value: str) -> None:
    if value[:1] in ("=", "@") or (value[:1] in ("+", "-") and not value[1:2].isdigit()):
        raise ValueError(f"{value[:40]!r} looks like a spreadsheet formula; only values are read")


def _count(cell: str, column: str) -> int | None:
    value = cell.replace("\u00a0", " ").replace("\u202f", " ").strip()
    try:
        _refuse_formula(value)
    except ValueError as exc:
        raise ValueError(f"column {column!r}: {exc}") from None
    return social_metrics.parse_metric_number(value, f"column {column!r}:")


async def import_metrics_file(
    session: AsyncSession,
    handle: Handle,
    text: str,
    *,
    chosen: str,
    today: date,
    visible: Sight = None,
    all_or_nothing: bool = True,
    line_done: Callable[[], None] | None = None,
) -> FileImport:
    """Import an uploaded file: leadlink's CSV (by its `date,platform,…` header or when
    chosen) through `import_social_metrics_csv`, else a platform's export for `handle`.

    A platform's export is all or nothing whatever `all_or_nothing` says: its problems are
    returned as `errors` and nothing is stored. Its numbers replace the stored ones of the
    same days; a number it does not have keeps what was stored (another export's followers)."""
    if chosen == LEADLINK or (chosen == DETECT and _looks_like_leadlink(text)):
        result = await social_metrics.import_social_metrics_csv(
            session,
            handle,
            text,
            visible=visible,
            all_or_nothing=all_or_nothing,
            line_done=line_done or _no_progress,
        )
        return FileImport(LEADLINK_LABEL, None, result.imported, result.errors)
    try:
        export = read_export(text, chosen, today, line_done=line_done)
    except ExportRefused as refused:
        return FileImport(
            _label(chosen) if chosen in FORMATS else "the file", None, 0, refused.problems
        )
    snapshots = [
        social_metrics.MetricSnapshot(handle.id, export.platform, day, **numbers)
        for day, numbers in sorted(export.days.items())
        if any(value is not None for value in numbers.values())
    ]
    await social_metrics.upsert_social_metrics(session, snapshots)
    if line_done:
        line_done()
    return FileImport(
        export.format.label,
        export.platform,
        len(snapshots),
        first=snapshots[0].day if snapshots else None,
        last=snapshots[-1].day if snapshots else None,
    )


def _no_progress() -> None:
    return None


def _looks_like_leadlink(text: str) -> bool:
    try:
        for cells in csv.reader(io.StringIO(text.removeprefix("\ufeff")[:4096])):
            if any(cell.strip() for cell in cells):
                return _is_leadlink_header(cells)
    except csv.Error:
        return False
    return False
