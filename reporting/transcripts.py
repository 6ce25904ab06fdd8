"""One dialog's transcript: its events in path order (timestamp, then arrival), and
which of them the selector that led here points at, so the page can highlight them."""
from dataclasses import dataclass
from datetime import datetime

from peewee import JOIN

from models import Event, Slot
from reporting.dialog_lists import END, NONE, START


@dataclass(frozen=True)
class Line:
    at: datetime  # UTC
    sender: str
    slot_key: str | None
    slot_name: str | None
    text: str | None


def lines(dialog_id):
    """The dialog's events as `Line`s, in path order."""
    query = (
        Event.select(Event.timestamp, Event.sender, Slot.key, Slot.name, Event.text)
        .join(Slot, JOIN.LEFT_OUTER, on=Event.slot == Slot.id)
        .where(Event.dialog == dialog_id)
        .order_by(Event.timestamp, Event.id)
        .tuples()
    )
    return [Line(*row) for row in query]


def highlighted(found, selector):
    """Indexes of the lines the selector points at: the slot reached or stopped at
    (for a stop: its last run), or both ends of each time the path takes the step."""
    named = [(i, line.slot_key) for i, line in enumerate(found) if line.slot_key is not None]
    if selector.reached is not None and selector.reached != NONE:
        return {i for i, key in named if key == selector.reached}
    if selector.stop_slot is not None and selector.stop_slot != NONE:
        last_run = set()
        for i, key in reversed(named):
            if key != selector.stop_slot:
                break
            last_run.add(i)
        return last_run
    if selector.from_slot is None:
        return set()
    marked, previous = set(), (None, START)
    for i, key in named + [(None, END)]:
        if key == previous[1]:
            previous = (i, key)
            continue
        if (previous[1], key) == (selector.from_slot, selector.to_slot):
            marked |= {j for j in (previous[0], i) if j is not None}
        previous = (i, key)
    return marked
