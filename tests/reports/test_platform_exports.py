"""The platforms' own analytics exports, read as their studios write them (the fixture files in
tests/reports/exports/): recognised by their header, each column on its number and day, and
every problem named by line and column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.reports.platform_exports import (
    DETECT,
    ExportRefused,
    decode_export,
    read_export,
)

EXPORTS = Path(__file__).parent / "exports"
TODAY = date(2026, 12, 6)


def export(name: str) -> str:
    return decode_export((EXPORTS / name).read_bytes())


def refusal(text: str, chosen: str = DETECT, today: date = TODAY) -> list[tuple[int, str]]:
    with pytest.raises(ExportRefused) as refused:
        read_export(text, chosen, today)
    return refused.value.problems


def test_youtube_studio_table_data_by_date() -> None:
    rows = read_export(export("youtube_studio_table_data.csv"), DETECT, TODAY)

    assert rows.platform == "youtube"
    assert rows.columns == ["Likes", "Comments added", "Shares", "Impressions"]
    assert len(rows.days) == 7  # the Total row is not a day
    assert rows.days[date(2026, 11, 3)] == {
        "likes": 171,
        "comments": 12,
        "shares": 8,
        "impressions": 29544,
    }


def test_tiktok_overview_dates_without_a_year_are_the_latest_such_days() -> None:
    rows = read_export(export("tiktok_overview.csv"), DETECT, TODAY)

    assert rows.platform == "tiktok"
    assert sorted(rows.days) == [date(2026, 11, d) for d in range(24, 31)]
    assert rows.days[date(2026, 11, 28)] == {
        "impressions": 13639,
        "likes": 124,
        "comments": 2,
        "shares": 1,
    }
    # The same file read in early 2027 is still last November's.
    assert min(read_export(export("tiktok_overview.csv"), DETECT, date(2027, 1, 5)).days) == (
        date(2026, 11, 24)
    )


def test_a_tiktok_export_across_new_year() -> None:
    text = (
        '"Date","Video Views","Profile Views","Likes","Comments","Shares"\n'
        '"December 30","10","1","2","0","0"\n"December 31","11","1","3","0","0"\n'
        '"January 1","12","1","4","0","0"\n"1 January","1","1","1","1","1"\n'
    )
    assert refusal(text, today=date(2027, 1, 3)) == [
        (
            4,
            "2027-01-01 is also on line 5: export one line per day (a chart split by video "
            "or country has several)",
        )
    ]
    rows = read_export(text.rsplit('"1 January"', 1)[0], DETECT, date(2027, 1, 3))
    assert sorted(rows.days) == [date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1)]


def test_tiktok_follower_history_gives_followers_only() -> None:
    rows = read_export(export("tiktok_follower_history.csv"), DETECT, TODAY)

    assert rows.platform == "tiktok"
    assert rows.days[date(2026, 11, 30)] == {"followers": 10650}


def test_meta_business_suite_utf16_views_are_impressions() -> None:
    rows = read_export(export("meta_instagram_views.csv"), DETECT, TODAY)

    assert rows.platform == "instagram"
    assert rows.days == {
        date(2026, 11, 1): {"impressions": 8226},
        date(2026, 11, 2): {"impressions": 905},
        date(2026, 11, 3): {"impressions": 27},
        date(2026, 11, 4): {"impressions": 10072},
        date(2026, 11, 5): {"impressions": 9119},
    }


def test_a_meta_export_that_does_not_name_its_platform_needs_the_owners_choice() -> None:
    text = export("meta_views.csv")

    [(line, problem)] = refusal(text)
    assert line == 2
    assert "choose Instagram or Facebook" in problem
    assert read_export(text, "meta-facebook", TODAY).platform == "facebook"
    assert refusal(export("meta_instagram_views.csv"), "meta-facebook") == [
        (2, "this export is 'Instagram views', not facebook's")
    ]


def test_a_meta_metric_that_is_not_kept_is_refused_with_the_reason() -> None:
    [(line, problem)] = refusal(export("meta_facebook_follows.csv"))

    assert line == 2
    assert "new follows per day" in problem


def test_quoted_numbers_with_separators_and_missing_values() -> None:
    text = (
        "\ufeffDate,Views,Likes,Comments added\n"
        'Total,"3,000","2,468",\n'
        '"Nov 1, 2026","1,500","1,234",\n'
        '2026-11-02,"1 500","1\u00a0234",7\n'
    )
    rows = read_export(text, "youtube-studio", TODAY)

    assert rows.days == {
        date(2026, 11, 1): {"likes": 1234, "comments": None},  # unknown, not 0
        date(2026, 11, 2): {"likes": 1234, "comments": 7},
    }


def test_every_bad_cell_is_named_by_line_and_column() -> None:
    text = (
        "Date,Views,Likes,Comments added\n"
        '2026-11-01,10,=HYPERLINK("http://x"),1\n'
        "2026-11-02,10,-3,1\n"
        "2026-11-31,10,3,1\n"
        "@SUM(A1),10,3,1\n"
        "2026-11-05,10,4.5,lots\n"
    )

    assert refusal(text) == [
        (
            2,
            "column 'Likes': '=HYPERLINK(\"http://x\")' looks like a spreadsheet formula; "
            "only values are read",
        ),
        (3, "column 'Likes': must be a whole number of 0 or more, not '-3'"),
        (4, "there is no day 31 in month 11 of 2026"),
        (5, "column 'Date': '@SUM(A1)' looks like a spreadsheet formula; only values are read"),
        (6, "column 'Likes': must be a whole number of 0 or more, not '4.5'"),
        (6, "column 'Comments added': must be a whole number of 0 or more, not 'lots'"),
    ]


def test_an_unknown_header_names_what_is_recognised() -> None:
    [(line, problem)] = refusal("Day,Likes\n2026-11-01,3\n")

    assert line == 1
    assert "'Day,Likes'" in problem
    assert "YouTube Studio" in problem
    assert "TikTok Studio" in problem


def test_the_chosen_format_must_be_the_files() -> None:
    assert refusal(export("tiktok_overview.csv"), "youtube-studio") == [
        (
            1,
            "this is a TikTok Studio, Overview export, not YouTube Studio (Advanced mode, "
            "Table data by Date)",
        )
    ]


def test_an_export_without_any_column_leadlink_keeps() -> None:
    [(line, problem)] = refusal("Date,Views,Watch time (hours)\n2026-11-01,3,0.1\n")

    assert line == 1
    assert "none of the columns leadlink keeps" in problem


@pytest.mark.parametrize(
    "raw",
    [b"", b"\n\n", b"\xff\xfe" + "sep=,\n".encode("utf-16-le")],
)
def test_an_empty_or_cut_file_is_refused(raw: bytes) -> None:
    with pytest.raises(ExportRefused):
        read_export(decode_export(raw), DETECT, TODAY)


def test_text_in_another_encoding_is_not_read() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_export("Date,Likes\n2026-11-01,3 très\n".encode("latin-1"))


def test_leadlinks_own_csv_is_not_taken_for_an_export() -> None:
    assert refusal("date,platform,likes\n2026-11-01,ig,3\n", "youtube-studio") == [
        (1, "this is leadlink's CSV (date, platform, …): choose that format")
    ]
