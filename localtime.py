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
