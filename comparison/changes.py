"""A number beside its value before: rates change in percentage points, counts in
percent (SPEC), and only a significant change of a rate gets an up or down marker."""
from dataclasses import dataclass
from fractions import Fraction

from comparison import statistics

MINUS = "\u2212"


@dataclass(frozen=True)
class Change:
    before: object  # the earlier value: a count, or a rate in percent rounded to 2 decimals; None without dialogs
    text: str  # "+3.20 pp", "−12.5%", "new", "±0"
    direction: str = None  # "up" or "down", only for a significant change

    @property
    def significant(self):
        return self.direction is not None


def signed(number, digits, unit):
    """'+3.20 pp', '−12.5%', '±0 pp' (no sign for nothing)."""
    if round(number, digits) == 0:
        return f"\u00b10{unit}" if unit == "%" else f"\u00b10 {unit}"
    text = f"{abs(number):.{digits}f}"
    return f"{'+' if number > 0 else MINUS}{text}{unit}" if unit == "%" else f"{'+' if number > 0 else MINUS}{text} {unit}"


def of_count(after, before):
    """A count's change in percent ('new' when there was none before)."""
    if before == 0:
        return Change(before, "new" if after else signed(0, 1, "%"))
    return Change(before, signed(100 * (after - before) / before, 1, "%"))


def percent(hits, total):
    """hits/total in percent, rounded as the pages show rates; None without a denominator."""
    return round(100 * hits / total, 2) if total else None


def points(hits, total, hits_before, total_before):
    """The exact change of a rate in percentage points (a Fraction), so that an alert's
    "at least" threshold holds at its boundary without floating-point doubt; None
    when either period has no denominator."""
    if not total or not total_before:
        return None
    return 100 * (Fraction(hits, total) - Fraction(hits_before, total_before))


def of_rate(hits, total, hits_before, total_before):
    """A rate's change in percentage points, marked up or down when significant
    (`statistics.is_significant`); no change to show without dialogs in either period."""
    delta = points(hits, total, hits_before, total_before)
    if delta is None:
        return Change(percent(hits_before, total_before), "no dialogs before" if not total_before else "")
    direction = None
    if delta and statistics.is_significant(hits, total, hits_before, total_before):
        direction = "up" if delta > 0 else "down"
    return Change(percent(hits_before, total_before), signed(float(delta), 2, "pp"), direction)
