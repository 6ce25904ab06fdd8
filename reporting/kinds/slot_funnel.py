"""Slot funnel: per slot, how many dialogs reached it and how many of those stopped there.

A stop count alone misleads: a slot every dialog passes collects many stops
without being a problem. The exit rate (stopped ÷ reached) shows where people
are really lost; once the agent has outcome rules, it counts only the stops that
did not end well (Abandoned or Failed): a thank-you or a handover where dialogs
end by design is no drop-off.
"""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from peewee import Value

from models import DailyReach, DialogSlot
from reporting import daily_sums, files, population
from reporting.kinds import outcomes, stop_slots

KEY = "slot-funnel"
LABEL = _l("Slot funnel")
SUBJECT = _l("Slot funnel report")
HEADER = ("Slot ID", "Slot name", "Slot type", "Bot text", "Reached", "Times shown", "Stopped", "Exit rate (%)", "Reach (%)")
EXPLANATION = _l(
    "Exit rate = dialogs that stopped at a slot ÷ dialogs that reached it (once the agent has outcome rules, only"
    " the stops that ended Abandoned or Failed); reach = dialogs that reached it ÷ counted dialogs."
)


@dataclass(frozen=True)
class FunnelStep:
    key: str | None  # None: the dialogs that named no slot at all
    name: str | None
    type: str | None
    text: str | None
    reached: int
    times_shown: int
    stopped: int
    lost: int  # the stops that did not end well; all of them while the agent has no outcome rules

    @property
    def label(self):
        return self.name if self.key is not None else stop_slots.NO_SLOT


def reached_slots(agent_id, filters, tz_name):
    """(slot id, dialogs that reached it, times shown) for the population."""
    return daily_sums.sums_in_period(
        agent_id, filters, tz_name,
        per_dialog=DialogSlot.select(DialogSlot.slot.alias("slot"), Value(1).alias("reached"), DialogSlot.times_shown.alias("shown")),
        daily=DailyReach.select(DailyReach.slot.alias("slot"), DailyReach.reached.alias("reached"), DailyReach.times_shown.alias("shown")),
        keys=("slot",), counts=("reached", "shown"),
    )


def funnel(agent_id, filters, tz_name):
    """Per slot reached by a counted dialog of the period: reached, times shown, stopped.

    Two grouped counts: the slots the population reached (`reached_slots`), and the
    stop-slot counts of the Stop slots report, or, once the agent has outcome rules,
    the stops per outcome (`outcomes.stops_by_outcome`).
    """
    reach = {slot_id: (reached, times) for slot_id, reached, times in reached_slots(agent_id, filters, tz_name)}
    stops = stops_and_losses(agent_id, filters, tz_name)
    steps = []
    for slot in population.slots_by_id(reach).values():
        reached, times = reach[slot.id]
        stopped, lost = stops.get(slot.key, (0, 0))
        steps.append(FunnelStep(slot.key, slot.name, slot.type, slot.text, reached, int(times), stopped, lost))
    if None in stops:
        stopped, lost = stops[None]
        steps.append(FunnelStep(None, None, None, None, stopped, 0, stopped, lost))
    return sorted(steps, key=lambda s: (-s.reached, s.label, s.key or ""))


def stops_and_losses(agent_id, filters, tz_name):
    """Slot key (None: named no slot) -> (dialogs that stopped there, those of them
    that did not end well)."""
    if not outcomes.has_rules(agent_id):
        return {c.key: (c.dialogs, c.dialogs) for c in stop_slots.stop_slot_counts(agent_id, filters, tz_name)}
    by_outcome = outcomes.stops_by_outcome(agent_id, filters, tz_name)
    return {key: (sum(counts.values()), outcomes.lost(counts)) for key, counts in by_outcome.items()}


def rows(steps, counted):
    """The rows (without header) for an agent's funnel; `counted` is its counted dialogs."""
    return [
        [
            s.key or "", s.label, s.type or "", s.text or "",
            s.reached, s.times_shown, s.stopped, exit_rate(s), files.share_percent(s.reached, counted),
        ]
        for s in steps
    ]


def counted(steps):
    """The counted dialogs of a funnel: every one stops exactly once."""
    return sum(s.stopped for s in steps)


def exit_rate(step):
    return files.share_percent(step.lost, step.reached)


def build(agent_id, filters, tz_name):
    """(rows, counted dialogs) of the agent's Slot funnel report."""
    steps = funnel(agent_id, filters, tz_name)
    return rows(steps, counted(steps)), counted(steps)
