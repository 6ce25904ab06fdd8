"""Showing stored UTC times in the instance time zone (TIMEZONE), as the page's
language writes dates: '2026-11-27 10:15' in English, '27.11.2026 10:15' in Russian."""
from datetime import timezone
from zoneinfo import ZoneInfo

from flask_babel import gettext

from languages.formats import language, ngettext

DATE_TIME = {"en": "%Y-%m-%d %H:%M", "ru": "%d.%m.%Y %H:%M"}
DATE = {"en": "%Y-%m-%d", "ru": "%d.%m.%Y"}


def to_local(utc_naive, tz_name):
    """A stored naive UTC datetime as an aware datetime in `tz_name`."""
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz_name))


def format_date(day):
    """A date as the language writes it."""
    return day.strftime(DATE[language()])


def format_local(utc_naive, tz_name):
    """E.g. '2026-11-27 10:15 CET (UTC+01:00)': absolute, with the zone spelled out."""
    if utc_naive is None:
        return ""
    local = to_local(utc_naive, tz_name)
    written = local.strftime(DATE_TIME[language()])
    if local.tzname() == "UTC":
        return f"{written} UTC"
    offset = local.strftime("%z")
    return f"{written} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def relative(utc_naive, now_utc_naive):
    """'just now', '5 min ago', '3 h ago', '2 days ago'; 'in 2 min' for the future."""
    seconds = (now_utc_naive - utc_naive).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return gettext("in a moment") if future else gettext("just now")
    if seconds >= 86400:
        days = max(1, round(seconds / 86400))
        if future:
            return ngettext("in %(num)s day", "in %(num)s days", days)
        return ngettext("%(num)s day ago", "%(num)s days ago", days)
    if seconds >= 3600:
        hours = round(seconds / 3600)
        return gettext("in %(num)s h", num=hours) if future else gettext("%(num)s h ago", num=hours)
    minutes = max(1, round(seconds / 60))
    return gettext("in %(num)s min", num=minutes) if future else gettext("%(num)s min ago", num=minutes)
