"""`leadlink metrics import`, `leadlink report` and `leadlink rollups rebuild` on the demo, as an
owner runs them (in-process: a subprocess per command would cost seconds)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from app.reports.service import ROW_FIELDS
from tests.cli_runner import leadlink_env


def test_import_report_and_rebuild_on_the_demo(tmp_path: Path) -> None:
    runner = CliRunner(env=leadlink_env(tmp_path))
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert runner.invoke(cli, ["demo"]).exit_code == 0
    today = datetime.now(UTC).date()
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        "date,platform,likes,followers,impressions,comments,shares\n"
        f"{today},pinterest,321,77,,,\n"
        f"{today},pinterest,many,,,,\n",
        encoding="utf-8",
    )

    imported = runner.invoke(cli, ["metrics", "import", str(metrics), "--handle", "demo"])
    assert imported.exit_code == 1  # a bad line: reported, the good row kept
    assert "1 rows imported for @demo" in imported.stdout
    assert "line 3: likes must be a whole number" in imported.stderr

    table = runner.invoke(cli, ["report", "--handle", "demo"])
    assert table.exit_code == 0, table.output
    assert "instagram" in table.stdout
    assert "pinterest" in table.stdout
    assert "total" in table.stdout

    start = (today - timedelta(days=6)).isoformat()
    exported = runner.invoke(
        cli, ["report", "--handle", "demo", "--from", start, "--to", today.isoformat(), "--csv"]
    )
    assert exported.exit_code == 0, exported.output
    lines = list(csv.reader(io.StringIO(exported.stdout)))
    assert lines[0] == list(ROW_FIELDS)
    assert lines[-1][0] == "total"
    pinterest = next(line for line in lines if line[0] == "pinterest")
    assert pinterest[1:3] == ["321", "77"]
    visits = sum(int(line[3]) for line in lines[1:-1])
    assert int(lines[-1][3]) == visits > 0

    by_day = runner.invoke(cli, ["report", "--handle", "demo", "--group-by", "day", "--csv"])
    assert len(list(csv.reader(io.StringIO(by_day.stdout)))) == 1 + 28 + 1

    rebuilt = runner.invoke(cli, ["rollups", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rollups rebuilt for UTC: 0 visits moved" in rebuilt.stdout
    after = runner.invoke(
        cli, ["report", "--handle", "demo", "--from", start, "--to", today.isoformat(), "--csv"]
    )
    assert after.stdout == exported.stdout

    bad = runner.invoke(cli, ["report", "--from", "2026-02-30"])
    assert bad.exit_code == 1
    assert "--from must be a date" in bad.stderr
