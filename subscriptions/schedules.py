"""When a subscription is due and which period each email covers (SPEC: "Scheduled
reports"): pure functions of the schedule, the time zone and "now", so that DST days,
month ends and catching up are tested with a clock the test controls.

A run is due on a local day at a local time of day in TIMEZONE. Daily runs cover the
day before; weekly runs the last complete Monday–Sunday before the due day; monthly
runs the calendar month before. A time that does not exist that day (the spring DST
change) is due at the first minute after the gap; a time that exists twice is due at
the first of them.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from babel import dates as babel_dates
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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


# The days of the week, Monday (0) first: the forms' choices.
WEEKDAYS = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"), _l("Sunday"))
# A weekly schedule in words, one sentence per day (other languages decline the day's name).
EVERY_WEEKDAY = (_l("Every Monday at %(at)s"), _l("Every Tuesday at %(at)s"), _l("Every Wednesday at %(at)s"),
                 _l("Every Thursday at %(at)s"), _l("Every Friday at %(at)s"), _l("Every Saturday at %(at)s"),
                 _l("Every Sunday at %(at)s"))


def when(schedule, tz_name):
    """E.g. 'Every Monday at 09:00 Europe/Berlin', in the language being written."""
    at = f"{schedule.at:%H:%M} {tz_name}"
    if schedule.frequency == "weekly":
        return EVERY_WEEKDAY[schedule.weekday] % {"at": at}
    if schedule.frequency == "monthly":
        return _("On day %(day)s of every month at %(at)s", day=schedule.day, at=at)
    return _("Every day at %(at)s", at=at)


COVERS = {"weekly": _l("%(when)s, covering the previous Monday–Sunday"), "monthly": _l("%(when)s, covering the previous month"),
          "daily": _l("%(when)s, covering the day before")}


def describe(schedule, tz_name):
    """E.g. 'Every Monday at 09:00 Europe/Berlin, covering the previous Monday–Sunday'."""
    return COVERS[schedule.frequency] % {"when": when(schedule, tz_name)}


def day_in_words(day):
    """E.g. '7 December 2026' ('7 декабря 2026'): the day with its month's name, as the language writes it."""
    return babel_dates.format_date(day, "d MMMM y", locale=get_locale() or "en")
