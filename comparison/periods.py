"""Which days "the period before" covers, and two periods in words. Days are local
days of TIMEZONE, as every period's are; `reporting.periods.period_bounds` turns them
into instants, so a week across a DST change is 167 or 169 hours and stays seven days."""
import calendar
from datetime import timedelta

from babel.dates import format_date
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

COMPARISONS = {"previous": _l("Previous period"), "last-year": _l("Same period last year")}  # URL value: label
MONTH = {"ru": "MMMM"}  # a day's month as the language writes it after the day: 'Nov'; 'ноября' (its genitive, whole)
SPACED_DASH = {"ru": "\u00a0\u2013 "}  # between two dates of different months: '25 октября – 23 ноября'


def previous_period(first, last):
    """As many days as first..last, ending the day before `first`."""
    days = (last - first).days + 1
    return first - timedelta(days=days), first - timedelta(days=1)


def same_period_last_year(first, last):
    """The same dates a year earlier. 29 February becomes the 28th, and whole months
    stay whole: a period from a month's first day to a month's last day ends on that
    month's last day (February 2025 looks back to 1–29 February 2024); any other
    period keeps its number of days where the calendar allows."""
    whole_months = first.day == 1 and _is_month_end(last)
    return _year_earlier(first, month_end=False), _year_earlier(last, month_end=whole_months)


def period_before(first, last, comparison):
    """The period a `comparison` (a key of COMPARISONS) compares first..last with."""
    if comparison == "previous":
        return previous_period(first, last)
    if comparison == "last-year":
        return same_period_last_year(first, last)
    raise ValueError(f"unknown comparison {comparison!r}")


def calendar_period_before(first, last):
    """The period a scheduled email's compares with: the month before a whole
    calendar month, else as many days just before (the day, or the week, before)."""
    if first.day == 1 and _is_month_end(last) and (first.year, first.month) == (last.year, last.month):
        end = first - timedelta(days=1)
        return end.replace(day=1), end
    return previous_period(first, last)


def _is_month_end(day):
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _year_earlier(day, month_end):
    year, month = day.year - 1, day.month
    last_day = calendar.monthrange(year, month)[1]
    return day.replace(year=year, day=last_day if month_end else min(day.day, last_day))


def language():
    locale = get_locale()
    return locale.language if locale is not None else "en"


def month(day):
    """The month of `day` as written after its number, in the current language ('Nov',
    'ноября'); English outside a request or an email being written."""
    return format_date(day, MONTH.get(language(), "MMM"), locale=get_locale() or "en")


def in_words(first, last, with_year=False):
    """'1–30 Nov', '25 Oct–23 Nov', '29 Dec 2025–4 Jan 2026' (years when asked for,
    or when the period spans two), '3 Nov' for one day; in Russian '1–30 ноября',
    '25 октября – 23 ноября'."""
    with_year = with_year or first.year != last.year
    year = f" {last.year}" if with_year else ""
    if first == last:
        return f"{first.day} {month(first)}{year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}\u2013{last.day} {month(last)}{year}"
    start = f"{first.day} {month(first)}" + (f" {first.year}" if first.year != last.year else "")
    return start + SPACED_DASH.get(language(), "\u2013") + f"{last.day} {month(last)}{year}"


def both_in_words(current, before):
    """('1–30 Nov', '2–31 Oct'); both with years when their years differ."""
    with_year = {current[0].year, current[1].year} != {before[0].year, before[1].year}
    return in_words(*current, with_year), in_words(*before, with_year)


def comparison_in_words(current, before):
    """'1–30 Nov vs 2–31 Oct'."""
    now, earlier = both_in_words(current, before)
    return _("%(current)s vs %(before)s", current=now, before=earlier)
