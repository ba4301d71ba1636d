"""`leadlink metrics import` with the platforms' own exports: recognised by their header (or
`--format`), stored on `--handle`, and refused whole with every problem on stderr."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli_runner import invoke_leadlink
from tests.servers import serve_env

EXPORTS = Path(__file__).parent / "exports"


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    env = serve_env(tmp_path)
    assert invoke_leadlink("migrate", env=env).exit_code == 0
    assert invoke_leadlink("demo", env=env).exit_code == 0
    return env


def stored(tmp_path: Path, platform: str, day: str) -> tuple[int | None, ...] | None:
    with sqlite3.connect(tmp_path / "cli.db") as db:
        row = db.execute(
            "SELECT likes, followers, impressions, comments, shares FROM social_metrics "
            "JOIN handles ON handles.id = social_metrics.handle_id "
            "WHERE handles.name = 'demo' AND platform = ? AND day = ?",
            (platform, day),
        ).fetchone()
    return None if row is None else tuple(row)


def test_a_youtube_studio_export_is_detected_and_imported(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    path = EXPORTS / "youtube_studio_table_data.csv"

    imported = invoke_leadlink("metrics", "import", str(path), "--handle", "demo", env=demo_env)

    assert imported.exit_code == 0, imported.output
    assert imported.stdout == (
        f"7 days of youtube imported for @demo from {path} (YouTube Studio (Advanced mode, "
        "Table data by Date), 2026-11-01 to 2026-11-07)\n"
    )
    likes, _followers, impressions, comments, shares = (
        stored(tmp_path, "youtube", "2026-11-03") or ()
    )
    assert (likes, impressions, comments, shares) == (171, 29544, 12, 8)


def test_a_meta_export_with_its_platform_given_by_format(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    path = EXPORTS / "meta_views.csv"

    refused = invoke_leadlink("metrics", "import", str(path), "--handle", "demo", env=demo_env)
    assert refused.exit_code == 1
    assert "line 2: this Meta Business Suite export ('Views') does not say" in refused.stderr
    assert "nothing imported" in refused.stderr

    imported = invoke_leadlink(
        "metrics",
        "import",
        str(path),
        "--handle",
        "demo",
        "--format",
        "meta-facebook",
        env=demo_env,
    )
    assert imported.exit_code == 0, imported.output
    assert "5 days of facebook imported for @demo" in imported.stdout
    assert (stored(tmp_path, "facebook", "2026-11-04") or ())[2] == 10072


def test_a_bad_export_changes_nothing_and_names_each_problem(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    text = (EXPORTS / "youtube_studio_table_data.csv").read_text(encoding="utf-8")
    bad = tmp_path / "Table data.csv"
    bad.write_text(
        text.replace("2026-11-02,1580,77.1048,-2,128", "2026-11-02,1580,77.1048,-2,=1+1").replace(
            "2026-11-05,1899,92.9806,8,150,8", "2026-11-05,1899,92.9806,8,150,many"
        ),
        encoding="utf-8",
    )
    before = stored(tmp_path, "youtube", "2026-11-01")

    refused = invoke_leadlink("metrics", "import", str(bad), "--handle", "demo", env=demo_env)

    assert refused.exit_code == 1
    assert "line 4: column 'Likes': '=1+1' looks like a spreadsheet formula" in refused.stderr
    assert "line 7: column 'Comments added': must be a whole number" in refused.stderr
    assert stored(tmp_path, "youtube", "2026-11-01") == before  # not even the good days


def test_an_unknown_format_option_is_refused(demo_env: dict[str, str]) -> None:
    path = EXPORTS / "tiktok_overview.csv"

    refused = invoke_leadlink(
        "metrics", "import", str(path), "--handle", "demo", "--format", "myspace", env=demo_env
    )

    assert refused.exit_code == 1
    assert "unknown --format 'myspace'" in refused.stderr
    assert "tiktok-overview" in refused.stderr
