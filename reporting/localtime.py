"""Showing stored UTC times in the instance time zone (TIMEZONE)."""
from datetime import timezone
from zoneinfo import ZoneInfo


def to_local(utc_naive, tz_name):
    """A stored naive UTC datetime as an aware datetime in `tz_name`."""
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz_name))


def format_local(utc_naive, tz_name):
    """E.g. '2026-11-27 10:15 CET (UTC+01:00)': absolute, with the zone spelled out."""
    if utc_naive is None:
        return ""
    local = to_local(utc_naive, tz_name)
    if local.tzname() == "UTC":
        return f"{local:%Y-%m-%d %H:%M} UTC"
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def relative(utc_naive, now_utc_naive):
    """'just now', '5 min ago', '3 h ago', '2 days ago'; 'in 2 min' for the future."""
    seconds = (now_utc_naive - utc_naive).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a moment"
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size or unit == "min":
            amount = max(1, round(seconds / size))
            text = f"{amount} {'day' if unit == 'days' and amount == 1 else unit}"
            return f"in {text}" if future else f"{text} ago"
