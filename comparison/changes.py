"""A number beside its value before: rates change in percentage points, counts in
percent (SPEC), and only a significant change of a rate gets an up or down marker.

A `Change` keeps its `text` in English, as alerts store it; `shown` is the same text
in the language of the page or email being written ('+3,20 п. п.')."""
from dataclasses import dataclass, field
from fractions import Fraction

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from comparison import statistics
from languages import formats

MINUS = "\u2212"


@dataclass(frozen=True)
class Change:
    before: object  # the earlier value: a count, or a rate in percent rounded to 2 decimals; None without dialogs
    text: str  # "+3.20 pp", "−12.5%", "new", "±0"
    direction: str = None  # "up" or "down", only for a significant change
    amount: float = field(default=None, compare=False)  # the change `text` says in numbers; None for a text without
    digits: int = field(default=0, compare=False)
    unit: str = field(default="", compare=False)  # "%" or "pp"

    @property
    def significant(self):
        return self.direction is not None

    @property
    def shown(self):
        """`text` in the current language: the same in English, '+3,20 п. п.', 'впервые' in Russian."""
        if self.amount is None:
            return str(WORDS[self.text]) if self.text in WORDS else self.text
        return signed(self.amount, self.digits, self.unit, localized=True)


WORDS = {"new": _l("new"), "no dialogs before": _l("no dialogs before")}  # the texts without a number


def signed(number, digits, unit, localized=False):
    """'+3.20 pp', '−12.5%', '±0 pp' (no sign for nothing); `localized`: as the current
    language writes it ('+3,20 п. п.', '−12,5 %')."""
    sign = "\u00b1" if round(number, digits) == 0 else "+" if number > 0 else MINUS
    if not localized or formats.language() == formats.DEFAULT:
        text = "0" if sign == "\u00b1" else f"{abs(number):.{digits}f}"
        return f"{sign}{text}{unit}" if unit == "%" else f"{sign}{text} {unit}"
    text = "0" if sign == "\u00b1" else formats.number(abs(number), digits)
    if unit == "%":
        return sign + text + formats.PERCENT_SIGN.get(formats.language(), "%")
    return sign + text + "\u00a0" + _("pp")


def of_count(after, before):
    """A count's change in percent ('new' when there was none before)."""
    if before == 0:
        return Change(before, "new") if after else Change(before, signed(0, 1, "%"), amount=0, digits=1, unit="%")
    change = 100 * (after - before) / before
    return Change(before, signed(change, 1, "%"), amount=change, digits=1, unit="%")


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
    return Change(percent(hits_before, total_before), signed(float(delta), 2, "pp"), direction, amount=float(delta), digits=2, unit="pp")
