"""Outcomes: how the counted dialogs ended, by the agent's outcome rules (`outcomes`).

Read from the dialogs themselves, not the daily totals: an outcome may change
when the rules do, and Abandoned or In progress when the clock moves on.
"""
from collections import Counter, defaultdict
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from peewee import SQL, fn

from models import Agent, Dialog
from outcomes import evaluation
from outcomes.rules import ENDED_BADLY, OUTCOMES
from reporting import files, periods, population

KEY = "outcomes"
LABEL = _l("Outcomes")
SUBJECT = _l("Outcomes report")
HEADER = ("Outcome", "Dialogs", "Share (%)")
EXPLANATION = _l(
    "Each counted dialog is counted once, under the outcome the agent's rules gave it (Abandoned, or In progress"
    " while its latest event is recent, when no rule matched); share = its dialogs ÷ all counted dialogs."
)


def has_rules(agent_id):
    return Agent.select(Agent.outcome_rules).where(Agent.id == agent_id).scalar() not in (None, "[]")


def counts_by(agent_id, filters, tz_name, *keys):
    """Counted dialogs of the population per outcome key (and per `keys`, columns of
    Dialog, first), as {key: Counter(outcome -> dialogs)}, or a Counter without keys."""
    start, end = periods.period_bounds(filters.date_from, filters.date_to, tz_name)
    outcome = evaluation.classified(evaluation.idle_before())
    query = (
        Dialog.select(*keys, outcome, fn.COUNT(SQL("*")))
        .where(population.in_range(Dialog, agent_id, filters.channels, start, end, filters.outcomes))
        .group_by(*[SQL(str(position)) for position in range(1, len(keys) + 2)])  # the CASE's parameters defeat a repeated expression on PostgreSQL
    )
    if not keys:
        return Counter({key: count for key, count in query.tuples()})
    found = defaultdict(Counter)
    for key, key_outcome, count in query.tuples():
        found[key][key_outcome] += count
    return found


def stops_by_outcome(agent_id, filters, tz_name):
    """Per stop slot key (None: named no slot), its counted dialogs per outcome: one
    query, which also holds the outcome counts (`total`)."""
    by_id = counts_by(agent_id, filters, tz_name, Dialog.stop_slot)
    slots = population.slots_by_id(by_id)
    return {slots[slot_id].key if slot_id is not None else None: counts for slot_id, counts in by_id.items()}


def total(by_stop):
    """The outcome counts of all the dialogs of `stops_by_outcome`: each stopped once."""
    return sum(by_stop.values(), Counter())


def lost(counts):
    """The dialogs of an outcome Counter that did not end well: the real drop-offs."""
    return sum(counts[key] for key in ENDED_BADLY)


def contained(counts):
    """The dialogs of an outcome Counter that no person had to take over: all but the Escalated."""
    return sum(counts.values()) - counts["escalated"]


def rates(counts):
    """(Containment, Completion) in percent, as Decimals, of an outcome Counter: the
    dialogs not Escalated, and those Completed, of all counted dialogs."""
    total = sum(counts.values())
    return share(contained(counts), total), share(counts["completed"], total)


def share(dialogs, total):
    """`files.share_percent`, and 0.00 of no dialogs at all (a report still has its five rows)."""
    return files.share_percent(dialogs, total) if total else Decimal("0.00")


def report_rows(counts):
    """The five rows, always, in the order of OUTCOMES."""
    total = sum(counts.values())
    return [[label, counts[key], share(counts[key], total)] for key, label in OUTCOMES.items()]


def build(agent_id, filters, tz_name):
    """(rows, counted dialogs) of the agent's Outcomes report."""
    counts = counts_by(agent_id, filters, tz_name)
    return report_rows(counts), sum(counts.values())
