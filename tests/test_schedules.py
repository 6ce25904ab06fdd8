"""Due times and periods of scheduled reports, with a clock the test controls:
DST days in Europe/Berlin and America/New_York, month ends, a leap day."""
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from subscriptions.schedules import Run, Schedule, describe, latest_run, local_instant, next_run

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
DAILY_9 = Schedule("daily", time(9, 0))


def utc(*args):
    return datetime(*args)


@pytest.mark.parametrize("day, expected_utc", [
    (date(2026, 3, 28), utc(2026, 3, 28, 8, 0)),  # CET, the day before the spring change
    (date(2026, 3, 29), utc(2026, 3, 29, 7, 0)),  # the change: CEST from 03:00
    (date(2026, 3, 30), utc(2026, 3, 30, 7, 0)),
    (date(2026, 10, 24), utc(2026, 10, 24, 7, 0)),  # CEST, the day before the autumn change
    (date(2026, 10, 25), utc(2026, 10, 25, 8, 0)),  # the change: CET from 03:00 CEST
    (date(2026, 10, 26), utc(2026, 10, 26, 8, 0)),
])
def test_a_daily_09_00_berlin_run_is_due_at_09_00_local_around_both_changes(day, expected_utc):
    assert local_instant(day, time(9, 0), BERLIN) == expected_utc
    run = latest_run(DAILY_9, BERLIN, expected_utc)
    assert (run.due, run.first_day, run.last_day) == (expected_utc, day - timedelta(days=1), day - timedelta(days=1))
    assert latest_run(DAILY_9, BERLIN, expected_utc - timedelta(seconds=1)).due < expected_utc


def test_a_time_that_does_not_exist_runs_at_the_first_minute_after_it():
    assert local_instant(date(2026, 3, 29), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST
    assert local_instant(date(2026, 3, 8), time(2, 30), NEW_YORK) == utc(2026, 3, 8, 7, 0)  # 03:00 EDT


def test_a_time_that_exists_twice_runs_once_at_the_first():
    schedule = Schedule("daily", time(2, 30))
    assert local_instant(date(2026, 10, 25), time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    dues = {latest_run(schedule, BERLIN, utc(2026, 10, 25, hour, 45)).due for hour in range(0, 4)}
    assert dues == {utc(2026, 10, 25, 0, 30)}  # the second 02:30 (01:30 UTC) is no due time
    assert local_instant(date(2026, 11, 1), time(1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


def test_new_york_days_around_its_changes():
    for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)):
        due = local_instant(day, time(9, 0), NEW_YORK)
        assert due.replace(tzinfo=ZoneInfo("UTC")).astimezone(NEW_YORK).time() == time(9, 0)


def test_weekly_runs_cover_the_previous_monday_to_sunday():
    monday_9 = Schedule("weekly", time(9, 0), weekday=0)
    run = latest_run(monday_9, BERLIN, utc(2026, 12, 7, 8, 30))  # Monday 7 December, 09:30 CET
    assert run == Run(date(2026, 11, 30), date(2026, 12, 6), utc(2026, 12, 7, 8, 0))
    wednesday = Schedule("weekly", time(9, 0), weekday=2)
    run = latest_run(wednesday, BERLIN, utc(2026, 12, 9, 12, 0))
    assert (run.first_day, run.last_day) == (date(2026, 11, 30), date(2026, 12, 6))


def test_a_weekly_subscription_made_on_the_due_day_after_the_due_time_waits_a_week():
    monday_9 = Schedule("weekly", time(9, 0), weekday=0)
    now = utc(2026, 12, 7, 10, 0)  # Monday, 11:00 Berlin: today's 09:00 has passed
    assert next_run(monday_9, BERLIN, now).due == utc(2026, 12, 14, 8, 0)
    assert latest_run(monday_9, BERLIN, now).due == utc(2026, 12, 7, 8, 0)  # due before it existed: not sent


def test_monthly_runs_cover_the_previous_calendar_month_at_month_ends_and_a_leap_day():
    first = Schedule("monthly", time(6, 0), day=1)
    assert latest_run(first, BERLIN, utc(2028, 3, 1, 6, 0)) == Run(date(2028, 2, 1), date(2028, 2, 29), utc(2028, 3, 1, 5, 0))
    assert latest_run(first, BERLIN, utc(2027, 1, 1, 5, 0)) == Run(date(2026, 12, 1), date(2026, 12, 31), utc(2027, 1, 1, 5, 0))
    day_28 = Schedule("monthly", time(6, 0), day=28)
    assert next_run(day_28, BERLIN, utc(2027, 1, 30, 0, 0)).due == utc(2027, 2, 28, 5, 0)
    assert latest_run(day_28, BERLIN, utc(2027, 1, 30, 0, 0)) == Run(date(2026, 12, 1), date(2026, 12, 31), utc(2027, 1, 28, 5, 0))


def test_catching_up_delivers_only_the_most_recent_missed_period():
    after_three_days_down = utc(2026, 3, 31, 12, 0)
    run = latest_run(DAILY_9, BERLIN, after_three_days_down)
    assert (run.first_day, run.due) == (date(2026, 3, 30), utc(2026, 3, 31, 7, 0))


def test_schedules_in_words():
    assert describe(Schedule("weekly", time(9, 0), weekday=0), "Europe/Berlin") == \
        "Every Monday at 09:00 Europe/Berlin, covering the previous Monday–Sunday"
    assert describe(Schedule("monthly", time(7, 30), day=3), "UTC") == "On day 3 of every month at 07:30 UTC, covering the previous month"
    assert describe(DAILY_9, "UTC") == "Every day at 09:00 UTC, covering the day before"
