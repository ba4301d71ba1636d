"""When a connection is read next, and which report day a reading stands for, in the report's
time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.platforms.polling import backoff, next_daily_poll, reading_day

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_next_poll_is_shortly_after_the_next_midnight_of_the_report_zone() -> None:
    now = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    due = next_daily_poll(now, BERLIN, connection_id=1)
    local = due.astimezone(BERLIN)
    assert local.date() == date(2026, 12, 7)
    assert timedelta(minutes=15) <= local - local.replace(hour=0, minute=0) <= timedelta(minutes=45)
    # Connections are spread over the half hour, each always at the same minute.
    spread = {next_daily_poll(now, BERLIN, n).astimezone(BERLIN).minute for n in range(1, 30)}
    assert len(spread) > 10


def test_a_reading_after_midnight_stands_for_the_day_just_ended() -> None:
    assert reading_day(datetime(2026, 12, 6, 23, 20, tzinfo=UTC), BERLIN) == date(2026, 12, 6)
    assert reading_day(datetime(2026, 12, 6, 14, 0, tzinfo=UTC), BERLIN) == date(2026, 12, 6)


def test_back_off_doubles_from_five_minutes_up_to_six_hours() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (5, 10, 20)]
    assert backoff(10) == backoff(50) == timedelta(hours=6)
