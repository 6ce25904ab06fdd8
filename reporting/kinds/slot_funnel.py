"""Slot funnel: per slot, how many dialogs reached it and how many of those stopped there.

A stop count alone misleads: a slot every dialog passes collects many stops
without being a problem. The exit rate (stopped ÷ reached) shows where people
are really lost.
"""
from dataclasses import dataclass

from peewee import Value

from models import DailyReach, DialogSlot
from reporting import daily_sums, files, population
from reporting.kinds import stop_slots

KEY = "slot-funnel"
LABEL = "Slot funnel"
SUBJECT = "Slot funnel report"
HEADER = ("Slot ID", "Slot name", "Slot type", "Bot text", "Reached", "Times shown", "Stopped", "Exit rate (%)", "Reach (%)")
EXPLANATION = "Exit rate = dialogs that stopped at a slot ÷ dialogs that reached it; reach = dialogs that reached it ÷ counted dialogs."


@dataclass(frozen=True)
class FunnelStep:
    key: str | None  # None: the dialogs that named no slot at all
    name: str | None
    type: str | None
    text: str | None
    reached: int
    times_shown: int
    stopped: int

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
    stop-slot counts of the Stop slots report.
    """
    reach = {slot_id: (reached, times) for slot_id, reached, times in reached_slots(agent_id, filters, tz_name)}
    stops = {c.key: c for c in stop_slots.stop_slot_counts(agent_id, filters, tz_name)}
    steps = []
    for slot in population.slots_by_id(reach).values():
        reached, times = reach[slot.id]
        stop = stops.get(slot.key)
        steps.append(FunnelStep(slot.key, slot.name, slot.type, slot.text, reached, int(times), stop.dialogs if stop else 0))
    unnamed = stops.get(None)
    if unnamed:
        steps.append(FunnelStep(None, None, None, None, unnamed.dialogs, 0, unnamed.dialogs))
    return sorted(steps, key=lambda s: (-s.reached, s.label, s.key or ""))


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
    return files.share_percent(step.stopped, step.reached)


def build(agent_id, filters, tz_name):
    """(rows, counted dialogs) of the agent's Slot funnel report."""
    steps = funnel(agent_id, filters, tz_name)
    return rows(steps, counted(steps)), counted(steps)
