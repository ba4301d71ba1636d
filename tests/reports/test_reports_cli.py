"""`leadlink metrics import`, `leadlink report` and `leadlink rollups rebuild` on the demo, as an
owner runs them (in-process: a subprocess per command would cost seconds)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.reports.charts import format_rate
from app.reports.service import ROW_FIELDS
from tests.cli_runner import invoke_leadlink
from tests.servers import serve_env


def test_import_report_and_rebuild_on_the_demo(tmp_path: Path) -> None:
    env = serve_env(tmp_path)
    assert invoke_leadlink("migrate", env=env).exit_code == 0
    assert invoke_leadlink("demo", env=env).exit_code == 0
    today = datetime.now(UTC).date()
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        "date,platform,likes,followers,impressions,comments,shares\n"
        f"{today},pinterest,321,77,,,\n"
        f"{today},pinterest,many,,,,\n",
        encoding="utf-8",
    )

    imported = invoke_leadlink("metrics", "import", str(metrics), "--handle", "demo", env=env)
    assert imported.exit_code == 1  # a bad line: reported, the good row kept
    assert "1 rows imported for @demo" in imported.stdout
    assert "line 3: likes must be a whole number" in imported.stderr

    table = invoke_leadlink("report", "--handle", "demo", env=env)
    assert table.exit_code == 0, table.output
    assert "instagram" in table.stdout
    assert "pinterest" in table.stdout
    assert "total" in table.stdout

    start = (today - timedelta(days=6)).isoformat()
    exported = invoke_leadlink(
        "report", "--handle", "demo", "--from", start, "--to", today.isoformat(), "--csv", env=env
    )
    assert exported.exit_code == 0, exported.output
    lines = list(csv.reader(io.StringIO(exported.stdout)))
    assert lines[0] == list(ROW_FIELDS)
    assert lines[-1][0] == "total"
    pinterest = next(line for line in lines if line[0] == "pinterest")
    assert pinterest[1:3] == ["321", "77"]
    visits = sum(int(line[3]) for line in lines[1:-1])
    assert int(lines[-1][3]) == visits > 0

    by_day = invoke_leadlink("report", "--handle", "demo", "--group-by", "day", "--csv", env=env)
    assert len(list(csv.reader(io.StringIO(by_day.stdout)))) == 1 + 28 + 1

    rebuilt = invoke_leadlink("rollups", "rebuild", env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rollups rebuilt for UTC: 0 visits moved" in rebuilt.stdout
    after = invoke_leadlink(
        "report", "--handle", "demo", "--from", start, "--to", today.isoformat(), "--csv", env=env
    )
    assert after.stdout == exported.stdout

    bad = invoke_leadlink("report", "--from", "2026-02-30", env=env)
    assert bad.exit_code == 1
    assert "--from must be a date" in bad.stderr


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    env = serve_env(tmp_path)
    assert invoke_leadlink("migrate", env=env).exit_code == 0
    assert invoke_leadlink("demo", env=env).exit_code == 0
    return env


def _metrics_file(tmp_path: Path, days: int) -> Path:
    today = datetime.now(UTC).date()
    path = tmp_path / "metrics.csv"
    lines = ["date,platform,likes,followers,impressions,comments,shares"]
    lines += [f"{today - timedelta(days=n)},instagram,{n},,,," for n in range(days)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_long_commands_print_only_their_result_when_piped(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    metrics = _metrics_file(tmp_path, days=50)

    imported = invoke_leadlink("metrics", "import", str(metrics), "--handle", "demo", env=demo_env)
    rebuilt = invoke_leadlink("rollups", "rebuild", env=demo_env)

    assert imported.exit_code == 0, imported.output
    assert imported.stdout == f"50 rows imported for @demo from {metrics}\n"
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.stdout.startswith("rollups rebuilt for UTC: ")
    assert len(rebuilt.stdout.splitlines()) == 1
    assert "\x1b" not in imported.stdout + rebuilt.stdout  # no cursor movement, no bar


def test_long_commands_show_progress_on_a_terminal(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    terminal = {**demo_env, "TTY_COMPATIBLE": "1", "TERM": "xterm"}
    metrics = _metrics_file(tmp_path, days=5)

    imported = invoke_leadlink("metrics", "import", str(metrics), "--handle", "demo", env=terminal)
    rebuilt = invoke_leadlink("rollups", "rebuild", env=terminal)

    assert imported.exit_code == 0, imported.output
    assert "importing metrics.csv" in imported.stdout
    assert "5 rows imported for @demo" in imported.stdout
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilding rollups" in rebuilt.stdout
    assert "5/5" in rebuilt.stdout  # every step of the rebuild was counted


@pytest.mark.parametrize("group_by", ["source", "source,day", "week", "page"])
def test_the_report_table_fits_80_columns_and_shows_small_rates(
    demo_env: dict[str, str], group_by: str
) -> None:
    """Every default column whole in 80 columns (no cut cell), and like-to-lead with the
    admin report's precision: tiktok's 40 leads from 76,278 likes read 0.052%, not 0.1%."""
    env = {**demo_env, "COLUMNS": "80"}
    table = invoke_leadlink("report", "--handle", "demo", "--group-by", group_by, env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in table.stdout
    exported = invoke_leadlink(
        "report", "--handle", "demo", "--group-by", group_by, "--csv", env=env
    )
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    keys = ["day", "source"] if group_by == "source,day" else [group_by]
    for row in rows:
        if not row["likes"]:
            continue
        cells = ["total"] if row[keys[0]] == "total" else [row[key] for key in keys]
        line = next(text for text in lines if text.split()[: len(cells)] == cells)
        shown = format_rate(int(row["leads"]) / int(row["likes"])) if int(row["likes"]) else "—"
        assert f" {shown} " in f"{line} ", (row, line)


def test_the_wide_report_has_every_column(demo_env: dict[str, str]) -> None:
    narrow = invoke_leadlink("report", "--handle", "demo", env=demo_env)
    wide = invoke_leadlink(
        "report", "--handle", "demo", "--wide", env={**demo_env, "COLUMNS": "160"}
    )
    assert wide.exit_code == 0, wide.output
    for heading in ("followers", "unique", "previews", "con-"):
        assert heading not in narrow.stdout.split("--wide")[0]
        assert heading in wide.stdout
    assert "--wide" in narrow.stdout
