"""Slot paths: which step of the script follows which, and how often.

A dialog's path is its slot-naming events in order (timestamp, then arrival),
immediate repeats merged (A, A, B -> A, B), from `(start)` to `(end)`.
"""
import collections
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from peewee import Value, fn

from models import DailyStep, DialogStep
from reporting import daily_sums, files, population

KEY = "slot-paths"
LABEL = _l("Slot paths")
SUBJECT = _l("Slot paths report")
HEADER = ("From slot ID", "From slot name", "To slot ID", "To slot name", "Dialogs", "Transitions", "Share of from (%)")
EXPLANATION = _l("Each row is a step from one slot to the next; share of from = its transitions ÷ all steps out of the from-slot.")
START, END = "(start)", "(end)"


@dataclass(frozen=True)
class Step:
    from_key: str | None  # None: (start)
    from_name: str
    to_key: str | None  # None: (end)
    to_name: str
    dialogs: int
    transitions: int


def steps(agent_id, filters, tz_name):
    """Every step seen in the paths of the period's counted dialogs, with counts:
    one query summing the daily totals of the steps, and the per-dialog steps of
    the partial days at the period's edges."""
    found = list(
        daily_sums.sums_in_period(
            agent_id, filters, tz_name,
            per_dialog=DialogStep.select(
                DialogStep.from_slot.alias("from_slot"), DialogStep.to_slot.alias("to_slot"),
                Value(1).alias("dialogs"), DialogStep.transitions.alias("transitions"),
            ),
            daily=DailyStep.select(
                fn.NULLIF(DailyStep.from_slot, DailyStep.NO_SLOT).alias("from_slot"),
                fn.NULLIF(DailyStep.to_slot, DailyStep.NO_SLOT).alias("to_slot"),
                DailyStep.dialogs.alias("dialogs"), DailyStep.transitions.alias("transitions"),
            ),
            keys=("from_slot", "to_slot"), counts=("dialogs", "transitions"),
        )
    )
    slots = population.slots_by_id({slot_id for from_slot, to_slot, _, _ in found for slot_id in (from_slot, to_slot)})

    def named(slot_id, missing):
        slot = slots.get(slot_id)
        return (slot.key, slot.name) if slot else (None, missing)

    result = [
        Step(*named(from_slot, START), *named(to_slot, END), dialogs, int(transitions))
        for from_slot, to_slot, dialogs, transitions in found
    ]
    return sorted(result, key=lambda s: (-s.transitions, s.from_name, s.to_name, s.from_key or "", s.to_key or ""))


def counted(found):
    """The counted dialogs of a set of steps: every one takes exactly one step into (end)."""
    return sum(s.transitions for s in found if s.to_key is None)


def shares(found):
    """Each step's share of all steps out of its from-slot, in percent."""
    out_of = collections.Counter()
    for step in found:
        out_of[step.from_key] += step.transitions
    return {step: files.share_percent(step.transitions, out_of[step.from_key]) for step in found}


def rows(found):
    """The rows (without header): each step with its share of the steps out of its from-slot."""
    share = shares(found)
    return [
        [s.from_key or "", s.from_name, s.to_key or "", s.to_name, s.dialogs, s.transitions, share[s]]
        for s in found
    ]


def build(agent_id, filters, tz_name):
    """(rows, counted dialogs) of the agent's Slot paths report."""
    found = steps(agent_id, filters, tz_name)
    return rows(found), counted(found)
