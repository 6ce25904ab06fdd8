"""What the user picked (`Filters`) and its period: inclusive local dates in a time
zone turned into UTC instants, and split into whole UTC days and partial edges."""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Filters:
    """What the user picked on the Analytics tab; the same for preview and export."""

    agent_ids: tuple
    date_from: date
    date_to: date
    channels: tuple = field(default=())  # empty means all channels
    outcomes: tuple = field(default=())  # outcome keys (outcomes.rules.OUTCOMES); empty means all


def period_bounds(date_from, date_to, tz_name):
    """The UTC instants [start, end) of the inclusive local dates From..To."""
    tz = ZoneInfo(tz_name)

    def local_midnight_utc(day):
        return datetime.combine(day, time.min, tz).astimezone(timezone.utc).replace(tzinfo=None)

    return local_midnight_utc(date_from), local_midnight_utc(date_to + timedelta(days=1))


def period_parts(filters, tz_name):
    """The period's UTC range split into ((first day, day after the last) of the whole
    UTC days in it, or None) and the [start, end) ranges of the at most two partial
    days left at its edges. The daily totals serve the whole days and the per-dialog
    rows the edges, so any time zone (half-hour offsets and DST days too) stays exact."""
    start, end = period_bounds(filters.date_from, filters.date_to, tz_name)
    first_day = start.date() if start.time() == time.min else start.date() + timedelta(days=1)
    last_day = end.date()
    if first_day >= last_day:
        return None, [(start, end)]

    def midnight(day):
        return datetime.combine(day, time.min)

    edges = [(a, b) for a, b in ((start, midnight(first_day)), (midnight(last_day), end)) if a < b]
    return (first_day, last_day), edges
