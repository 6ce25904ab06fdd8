"""Stop slots: on which slot each counted dialog stopped (the original report)."""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from peewee import Value, fn

from models import DailyStep, DialogStep
from reporting import daily_sums, files, population

KEY = "stop-slots"
LABEL = _l("Stop slots")
SUBJECT = _l("Stop slots report")
HEADER = files.HEADER
EXPLANATION = _l("Each counted dialog is counted once, at the slot where it stopped; share = its dialogs ÷ all counted dialogs.")
NO_SLOT = "(no slot)"


@dataclass(frozen=True)
class StopSlotCount:
    key: str | None  # None: the dialogs named no slot at all
    name: str | None
    type: str | None
    text: str | None
    dialogs: int

    @property
    def label(self):
        return self.name if self.key is not None else NO_SLOT


def build(agent_id, filters, tz_name):
    """(rows, counted dialogs) of the agent's Stop slots report."""
    counts = stop_slot_counts(agent_id, filters, tz_name)
    return report_rows(counts), sum(c.dialogs for c in counts)


def stop_slot_counts(agent_id, filters, tz_name):
    """Counted dialogs per stop slot, as `StopSlotCount`s.

    A dialog's path ends with one step from its stop slot (or from (start) when it
    named none) into (end), so the counts are the steps into (end), summed in one
    query over the daily totals and the per-dialog steps of the period's edges.
    """
    stopped = daily_sums.sums_in_period(
        agent_id, filters, tz_name,
        per_dialog=DialogStep.select(DialogStep.from_slot.alias("slot"), Value(1).alias("dialogs")).where(DialogStep.to_slot.is_null()),
        daily=DailyStep.select(fn.NULLIF(DailyStep.from_slot, DailyStep.NO_SLOT).alias("slot"), DailyStep.dialogs.alias("dialogs"))
        .where(DailyStep.to_slot == DailyStep.NO_SLOT),
        keys=("slot",), counts=("dialogs",),
    )
    dialogs = dict(stopped)
    slots = population.slots_by_id(dialogs).values()
    counts = [StopSlotCount(s.key, s.name, s.type, s.text, dialogs[s.id]) for s in slots]
    if None in dialogs:
        counts.append(StopSlotCount(None, None, None, None, dialogs[None]))
    return counts


def sort_counts(counts):
    """Most dialogs first, then by slot name, as the report and the chart show them."""
    return sorted(counts, key=lambda c: (-c.dialogs, c.label, c.key or ""))


def report_rows(counts):
    """The rows (without header) for an agent's stop-slot counts."""
    total = sum(c.dialogs for c in counts)
    return [
        [c.key or "", c.label, c.type or "", c.text or "", c.dialogs, files.share_percent(c.dialogs, total)]
        for c in sort_counts(counts)
    ]
