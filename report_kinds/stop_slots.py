"""Stop slots: on which slot each counted dialog stopped (the original report)."""
from peewee import Value, fn

import daily_totals
import reports
from models import DailyStep, DialogStep

KEY = "stop-slots"
LABEL = "Stop slots"
HEADER = reports.HEADER
EXPLANATION = "Each counted dialog is counted once, at the slot where it stopped; share = its dialogs ÷ all counted dialogs."


def build(agent_id, filters, tz_name):
    """(rows, counted dialogs) of the agent's Stop slots report."""
    counts = stop_slot_counts(agent_id, filters, tz_name)
    return reports.report_rows(counts), sum(c.dialogs for c in counts)


def stop_slot_counts(agent_id, filters, tz_name):
    """Counted dialogs per stop slot, as `reports.StopSlotCount`s.

    A dialog's path ends with one step from its stop slot (or from (start) when it
    named none) into (end), so the counts are the steps into (end), summed in one
    query over the daily totals and the per-dialog steps of the period's edges.
    """
    stopped = daily_totals.sums_in_period(
        agent_id, filters, tz_name,
        per_dialog=DialogStep.select(DialogStep.from_slot.alias("slot"), Value(1).alias("dialogs")).where(DialogStep.to_slot.is_null()),
        daily=DailyStep.select(fn.NULLIF(DailyStep.from_slot, daily_totals.NO_SLOT).alias("slot"), DailyStep.dialogs.alias("dialogs"))
        .where(DailyStep.to_slot == daily_totals.NO_SLOT),
        keys=("slot",), counts=("dialogs",),
    )
    dialogs = dict(stopped)
    slots = reports.slots_by_id(dialogs).values()
    counts = [reports.StopSlotCount(s.key, s.name, s.type, s.text, dialogs[s.id]) for s in slots]
    if None in dialogs:
        counts.append(reports.StopSlotCount(None, None, None, None, dialogs[None]))
    return counts
