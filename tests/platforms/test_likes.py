"""The derivation rules on their own: growth per video, the split of a missed day, and the
days a snapshot decides."""

from __future__ import annotations

from datetime import date

from app.platforms.likes import derived_days, growth, spread
from app.platforms.models import PlatformSnapshot


def test_growth_counts_new_videos_whole_and_nothing_for_deleted_or_shrunk_ones() -> None:
    before = {"a": 10, "b": 50, "c": 7}
    after = {"a": 15, "b": 40, "d": 3}  # a grew 5, b lost 10, c deleted, d new
    assert growth(before, after) == 5 + 0 + 3
    assert growth(after, after) == 0


def test_a_gap_is_split_evenly_with_the_remainder_on_the_last_day() -> None:
    assert spread(11, 3) == [3, 3, 5]
    assert spread(2, 3) == [0, 0, 2]
    assert spread(0, 2) == [0, 0]
    assert sum(spread(1_000_003, 7)) == 1_000_003


def test_the_first_snapshot_knows_followers_only_and_a_later_one_its_gap() -> None:
    first = PlatformSnapshot(day=date(2026, 12, 6), followers=10, likes_gained=None)
    later = PlatformSnapshot(day=date(2026, 12, 9), followers=12, likes_gained=7, gap_days=3)

    assert [(d.day.day, d.likes, d.followers) for d in derived_days(first)] == [(6, None, 10)]
    assert [(d.day.day, d.likes, d.followers) for d in derived_days(later)] == [
        (7, 2, None),
        (8, 2, None),
        (9, 3, 12),
    ]
