"""Transcripts: the dialogs of a list (the reports' population narrowed by one
selector, see `reporting.dialog_lists`), one row per event. Unlike the counting
kinds it can be millions of rows, so it is built as a stream: a keyset batch of
dialogs at a time, oldest first, each batch's events in one query."""
import dataclasses

from flask_babel import lazy_gettext as _l
from peewee import JOIN

from models import Dialog, Event, Slot
from reporting import dialog_lists
from reporting.localtime import to_local

KEY = "transcripts"
LABEL = _l("Transcripts")
SUBJECT = _l("Transcripts")
HEADER = ("Dialog ID", "Channel", "Started", "Time", "Sender", "Slot ID", "Slot name", "Text")
EXPLANATION = _l("One row per event: dialogs oldest first, each dialog's events in the order of its path.")
BATCH = 500  # dialogs a query


class Rows:
    """The export's rows, read as they are written; `dialogs` counts the dialogs read so far."""

    def __init__(self, agent_id, filters, tz_name, selector):
        self.filters = dataclasses.replace(filters, agent_ids=(agent_id,))
        self.tz_name, self.selector, self.dialogs = tz_name, selector, 0

    def __iter__(self):
        try:
            batches = dialog_lists.oldest_first(self.filters, self.tz_name, self.selector, BATCH)
            for ids in batches:
                self.dialogs += len(ids)
                yield from event_rows(ids, self.tz_name)
        except dialog_lists.SelectorError:
            return  # this agent has no slot of that key: none of its dialogs is in the list


def event_rows(dialog_ids, tz_name):
    """The rows of these dialogs, in their order, each one's events in path order."""
    position = {dialog_id: i for i, dialog_id in enumerate(dialog_ids)}
    query = (
        Event.select(Event.dialog, Dialog.external_id, Dialog.channel, Dialog.started_at, Event.timestamp,
                     Event.sender, Slot.key, Slot.name, Event.text)
        .join(Dialog, on=Event.dialog == Dialog.id)
        .switch(Event)
        .join(Slot, JOIN.LEFT_OUTER, on=Event.slot == Slot.id)
        .where(Event.dialog.in_(dialog_ids))
        .order_by(Event.dialog, Event.timestamp, Event.id)
        .tuples()
    )
    rows = sorted(query, key=lambda row: position[row[0]])  # stable: path order kept within a dialog
    return [
        [external_id, channel, local_time(started, tz_name), local_time(at, tz_name), sender, key or "", name or "", text or ""]
        for _, external_id, channel, started, at, sender, key, name, text in rows
    ]


def local_time(utc_naive, tz_name):
    return f"{to_local(utc_naive, tz_name):%Y-%m-%d %H:%M:%S}"
