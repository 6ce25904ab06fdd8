"""A subscription in words for the pages: its schedule, and when its first (or next) email comes."""
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from models import SubscriptionRun, utcnow
from reporting.localtime import to_local
from subscriptions import schedules


def in_words(schedule, after, tz_name, first=True):
    """E.g. 'Every Monday at 09:00 Europe/Berlin, covering the previous Monday–Sunday;
    first on 7 December 2026 at 09:00': the schedule and its first (or next) email after `after`."""
    upcoming = schedules.next_run(schedule, ZoneInfo(tz_name), after)
    local = to_local(upcoming.due, tz_name)
    words, day, at = schedules.describe(schedule, tz_name), schedules.day_in_words(local.date()), f"{local:%H:%M}"
    if first:
        return _("%(schedule)s; first on %(day)s at %(time)s", schedule=words, day=day, time=at)
    return _("%(schedule)s; next on %(day)s at %(time)s", schedule=words, day=day, time=at)


def subscription_summary(subscription, tz_name, now=None):
    """The subscription in words, with its next email ('first' until it has sent one)."""
    ran = SubscriptionRun.select().where(SubscriptionRun.subscription == subscription).exists()
    return in_words(schedules.schedule_of(subscription), max(now or utcnow(), subscription.starts_at), tz_name, first=not ran)
