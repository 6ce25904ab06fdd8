"""Per-day totals of the per-dialog slot and step rows (`DailyReach`, `DailyStep`).

The Slot funnel and Slot paths reports sum a few hundred of these rows per day
instead of reading every dialog of the period. Days are UTC days: a period in
any time zone is whole UTC days plus at most two partial days at its edges,
which the reports read from the per-dialog rows (`reporting.daily_sums`).

Ingestion keeps the totals exact, out-of-order events included, by taking what
the touched dialogs contributed before their refresh and adding the difference
to what they contribute after it, in the same transaction.
"""
from dataclasses import dataclass, field
from datetime import datetime

from peewee import EXCLUDED, SQL, fn

from database import db
from database.bulk import Statement, chunks, insert_rows
from models import DailyReach, DailyStep, DialogSlot, DialogStep

REACH_KEY = (DailyReach.agent, DailyReach.day, DailyReach.channel, DailyReach.slot)
REACH_COUNTS = (DailyReach.reached, DailyReach.times_shown)
STEP_KEY = (DailyStep.agent, DailyStep.day, DailyStep.channel, DailyStep.from_slot, DailyStep.to_slot)
STEP_COUNTS = (DailyStep.dialogs, DailyStep.transitions)


@dataclass
class Totals:
    """What some dialogs add to the daily totals: key -> [count, sum], per table."""

    reach: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)


def _reach_query(*conditions):
    day = fn.DATE(DialogSlot.started_at)
    grouped = (DialogSlot.agent, day, DialogSlot.channel, DialogSlot.slot)
    return (
        DialogSlot.select(*grouped, fn.COUNT(SQL("*")), fn.SUM(DialogSlot.times_shown))
        .where(DialogSlot.is_counted == True, *conditions)  # noqa: E712 (peewee expression)
        .group_by(*grouped)
    )


def _step_query(*conditions):
    day = fn.DATE(DialogStep.started_at)
    from_slot, to_slot = fn.COALESCE(DialogStep.from_slot, DailyStep.NO_SLOT), fn.COALESCE(DialogStep.to_slot, DailyStep.NO_SLOT)
    grouped = (DialogStep.agent, day, DialogStep.channel, from_slot, to_slot)
    return (
        DialogStep.select(*grouped, fn.COUNT(SQL("*")), fn.SUM(DialogStep.transitions))
        .where(DialogStep.is_counted == True, *conditions)  # noqa: E712 (peewee expression)
        .group_by(*grouped)
    )


def contributions(dialog_ids):
    """What these dialogs' per-dialog rows add to the daily totals, as stored now."""
    totals = Totals()
    for part in chunks(list(dialog_ids)):
        for found, query in (
            (totals.reach, _reach_query(DialogSlot.dialog.in_(part))),
            (totals.steps, _step_query(DialogStep.dialog.in_(part))),
        ):
            for *key, count, total in query.tuples():
                key[1] = _as_date(key[1])
                _count(found, tuple(key), int(total), dialogs=count)
    return totals


def add_rows(totals, agent_id, summary, slots, steps):
    """Add what the rows of the given slots and steps of a counted dialog summarised
    in Python (`ingest.summaries.Summary`) contribute to `totals`, as
    `contributions` would read them from the stored rows."""
    day, channel = summary.started_at.date(), summary.channel
    for slot in slots:
        _count(totals.reach, (agent_id, day, channel, slot), summary.reached[slot])
    for from_slot, to_slot in steps:
        _count(totals.steps, (agent_id, day, channel, from_slot or DailyStep.NO_SLOT, to_slot or DailyStep.NO_SLOT), summary.steps[from_slot, to_slot])


def _count(found, key, total, dialogs=1):
    """Add `dialogs` and their `total` to the counts of `key`."""
    counts = found.setdefault(key, [0, 0])
    counts[0] += dialogs
    counts[1] += total


def _as_date(value):
    """date() of a datetime column, as a date: peewee hands it back as a datetime on
    SQLite (the column's type) and as a date on PostgreSQL."""
    return value.date() if isinstance(value, datetime) else value


def _adding(model, key_fields, count_fields):
    """An upsert adding counts to the row of a key, creating it at 0 if missing."""
    update = {f: f + getattr(EXCLUDED, f.column_name) for f in count_fields}
    return Statement(
        lambda values: model.insert_from(values, (*key_fields, *count_fields)).on_conflict(
            conflict_target=key_fields, update=update
        )
    )


ADD_REACH = _adding(DailyReach, REACH_KEY, REACH_COUNTS)
ADD_STEPS = _adding(DailyStep, STEP_KEY, STEP_COUNTS)


def apply_change(before, after):
    """Add `after` − `before` (two `contributions`) to the stored totals."""
    _add(ADD_REACH, before.reach, after.reach)
    _add(ADD_STEPS, before.steps, after.steps)


def _add(upsert, before, after):
    """Upsert the non-zero differences in key order: concurrent writers on PostgreSQL
    then lock the rows they share in the same order and never wait in a circle."""
    rows = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, [0, 0]), after.get(key, [0, 0])
        if old != new:
            rows.append((*key, new[0] - old[0], new[1] - old[1]))
    insert_rows(upsert, rows)


def rebuild():
    """Recompute every daily total from the per-dialog rows: after an upgrade, or
    after data was written without the ingestion path (the benchmark's generator)."""
    with db.atomic():
        DailyReach.delete().execute()
        DailyStep.delete().execute()
        DailyReach.insert_from(_reach_query(), [*REACH_KEY, *REACH_COUNTS]).execute()
        DailyStep.insert_from(_step_query(), [*STEP_KEY, *STEP_COUNTS]).execute()
