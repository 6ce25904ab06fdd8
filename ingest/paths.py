"""The per-dialog summary and path rows recomputed from a dialog's events in SQL.

The writer (`ingest.writer`) takes this exact path for dialogs whose new events
do not simply go on from their stored ones (out of order, or re-sent); the
benchmark's generator uses it for data written without the writer.
"""
from peewee import SQL, Value, fn

from database import db
from models import Dialog, DialogSlot, DialogStep, Event

# The columns of the per-dialog path rows, in the models' order: peewee writes a
# one-row INSERT's columns in that order, and the rows' values must follow it.
SLOT_ROW = (
    DialogSlot.dialog, DialogSlot.agent, DialogSlot.slot,
    DialogSlot.is_counted, DialogSlot.started_at, DialogSlot.channel, DialogSlot.times_shown,
)
STEP_ROW = (
    DialogStep.dialog, DialogStep.agent, DialogStep.from_slot, DialogStep.to_slot,
    DialogStep.is_counted, DialogStep.started_at, DialogStep.channel, DialogStep.transitions,
)


def refresh_dialog_summaries(dialog_ids):
    """Recompute start, latest event, counted flag and stop slot of these dialogs from their events.

    The stop slot is the slot of the latest slot-naming event, by timestamp and
    then arrival order (the event id), so events may arrive in any order.
    """
    e = Event.alias()
    started_at = e.select(fn.MIN(e.timestamp)).where(e.dialog == Dialog.id)
    last_event_at = e.select(fn.MAX(e.timestamp)).where(e.dialog == Dialog.id)
    is_counted = fn.EXISTS(e.select(SQL("1")).where((e.dialog == Dialog.id) & (e.sender == "user")))
    stop_slot = (
        e.select(e.slot)
        .where((e.dialog == Dialog.id) & e.slot.is_null(False))
        .order_by(e.timestamp.desc(), e.id.desc())
        .limit(1)
    )
    (
        Dialog.update(started_at=started_at, last_event_at=last_event_at, is_counted=is_counted, stop_slot=stop_slot)
        .where(Dialog.id.in_(dialog_ids))
        .execute()
    )


def refresh_paths(dialog_ids):
    """Recompute the slots these dialogs reached and the steps of their paths from
    their events (after their summaries, whose filter fields the rows copy).

    A path is the slot-naming events in order (timestamp, then arrival), repeats
    merged; it runs from (start) to (end), which a missing slot stands for.
    """
    DialogSlot.delete().where(DialogSlot.dialog.in_(dialog_ids)).execute()
    DialogStep.delete().where(DialogStep.dialog.in_(dialog_ids)).execute()
    copied = (Dialog.is_counted, Dialog.started_at, Dialog.channel)
    reached = (
        Event.select(Event.dialog, Dialog.agent, Event.slot, *copied, fn.COUNT(SQL("*")))
        .join(Dialog)
        .where(Event.dialog.in_(dialog_ids) & Event.slot.is_null(False))
        .group_by(Event.dialog, Dialog.agent, Event.slot, *copied)
    )
    DialogSlot.insert_from(reached, SLOT_ROW).execute()

    previous = fn.LAG(Event.slot).over(partition_by=[Event.dialog], order_by=[Event.timestamp, Event.id])
    sequence = (
        Event.select(
            Event.dialog.alias("dialog_id"), Dialog.agent.alias("agent_id"), previous.alias("from_slot"),
            Event.slot.alias("to_slot"), *(field.alias(field.name) for field in copied),
        )
        .join(Dialog)
        .where(Event.dialog.in_(dialog_ids) & Event.slot.is_null(False))
        .cte("sequence")
    )
    moves = sequence.c.from_slot.is_null() | (sequence.c.from_slot != sequence.c.to_slot)
    grouped = [
        sequence.c.dialog_id, sequence.c.agent_id, sequence.c.from_slot, sequence.c.to_slot,
        *(getattr(sequence.c, f.name) for f in copied),
    ]
    steps = sequence.select_from(*grouped, fn.COUNT(SQL("*"))).where(moves).group_by(*grouped)
    DialogStep.insert_from(steps, STEP_ROW).execute()
    endings = Dialog.select(Dialog.id, Dialog.agent, Dialog.stop_slot, Value(None), *copied, Value(1)).where(
        Dialog.id.in_(dialog_ids)
    )
    DialogStep.insert_from(endings, STEP_ROW).execute()


def backfill_paths(chunk=5000):
    """Compute the slot and step rows of every stored dialog (an upgrade, or data
    written without the ingestion path), a chunk of dialogs per transaction.
    `ingest.daily_totals.rebuild()` then sums them per day."""
    ids = [dialog_id for (dialog_id,) in Dialog.select(Dialog.id).order_by(Dialog.id).tuples()]
    for start in range(0, len(ids), chunk):
        with db.atomic():
            refresh_paths(ids[start : start + chunk])
