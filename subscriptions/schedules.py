"""When a subscription is due and which period each email covers (SPEC: "Scheduled
reports"): pure functions of the schedule, the time zone and "now", so that DST days,
month ends and catching up are tested with a clock the test controls.

A run is due on a local day at a local time of day in TIMEZONE. Daily runs cover the
day before; weekly runs the last complete Monday–Sunday before the due day; monthly
runs the calendar month before. A time that does not exist that day (the spring DST
change) is due at the first minute after the gap; a time that exists twice is due at
the first of them.
"""
import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

FREQUENCIES = ("daily", "weekly", "monthly")
WINDOW = 32  # days searched either side of today: every schedule is due twice in it
LONGEST_GAP = 24 * 60  # minutes a DST (or date line) change may skip


@dataclass(frozen=True)
class Schedule:
    frequency: str  # one of FREQUENCIES
    at: time  # local time of day
    weekday: int = 0  # weekly: 0 = Monday
    day: int = 1  # monthly: 1–28

    def is_due_on(self, day):
        if self.frequency == "weekly":
            return day.weekday() == self.weekday
        if self.frequency == "monthly":
            return day.day == self.day
        return True

    def period_of(self, due_day):
        """(first, last) local day covered by the run due on `due_day`."""
        if self.frequency == "weekly":
            last = due_day - timedelta(days=due_day.weekday() + 1)
            return last - timedelta(days=6), last
        if self.frequency == "monthly":
            last = due_day.replace(day=1) - timedelta(days=1)
            return last.replace(day=1), last
        return due_day - timedelta(days=1), due_day - timedelta(days=1)


def schedule_of(subscription):
    """The Schedule of a stored subscription, or alert (which has no day of month);
    its time of day is kept as HH:MM."""
    hours, minutes = (int(part) for part in subscription.at.split(":"))
    return Schedule(subscription.frequency, time(hours, minutes), subscription.weekday, getattr(subscription, "day", 1))


@dataclass(frozen=True)
class Run:
    """One delivery: the period it covers and when it is due (naive UTC)."""

    first_day: date
    last_day: date
    due: datetime


def local_instant(day, at, tz):
    """The naive UTC instant of local `day` at `at` in `tz` (a ZoneInfo)."""
    wall = datetime.combine(day, at)
    for minutes in range(LONGEST_GAP + 1):
        candidate = wall + timedelta(minutes=minutes)
        instant = candidate.replace(tzinfo=tz).astimezone(timezone.utc)  # fold=0: the first of two
        if instant.astimezone(tz).replace(tzinfo=None) == candidate:  # this wall time exists
            return instant.replace(tzinfo=None)
    raise ValueError(f"{wall} does not exist in {tz}")


def runs_around(schedule, tz, now):
    """The runs due within WINDOW days of `now` (naive UTC), in due order."""
    today = now.replace(tzinfo=timezone.utc).astimezone(tz).date()
    days = (today + timedelta(days=offset) for offset in range(-WINDOW, WINDOW + 1))
    return [Run(*schedule.period_of(day), local_instant(day, schedule.at, tz)) for day in days if schedule.is_due_on(day)]


def latest_run(schedule, tz, now):
    """The most recent run due at or before `now`: what a worker delivers now, once,
    however many due times it missed."""
    return [run for run in runs_around(schedule, tz, now) if run.due <= now][-1]


def next_run(schedule, tz, now):
    """The first run due after `now`."""
    return next(run for run in runs_around(schedule, tz, now) if run.due > now)


def when(schedule, tz_name):
    """E.g. 'Every Monday at 09:00 Europe/Berlin'."""
    at = f"{schedule.at:%H:%M} {tz_name}"
    if schedule.frequency == "weekly":
        return f"Every {calendar.day_name[schedule.weekday]} at {at}"
    if schedule.frequency == "monthly":
        return f"On day {schedule.day} of every month at {at}"
    return f"Every day at {at}"


COVERS = {"weekly": "the previous Monday–Sunday", "monthly": "the previous month", "daily": "the day before"}


def describe(schedule, tz_name):
    """E.g. 'Every Monday at 09:00 Europe/Berlin, covering the previous Monday–Sunday'."""
    return f"{when(schedule, tz_name)}, covering {COVERS[schedule.frequency]}"
