"""What a dialog's events say about it, computed from the events themselves.

Ingestion stores these summaries so that no report reads events. A batch that
creates a dialog holds all its events, and a batch whose events for a stored
dialog all come after the stored ones only appends to its path: both are
computed here in Python and written with plain INSERTs. Any other batch (events
arriving out of order, or re-sent) has its dialogs recomputed from all their
events in SQL (`ingest.paths.refresh_dialog_summaries`, `refresh_paths`). Both
follow the same rules, which the equivalence tests hold them to:

- the start is the earliest event; a dialog is counted when the user spoke;
- order is by timestamp, then arrival; the stop slot is the last slot shown;
- a path is the slots shown in order, repeats merged, from (start) to (end),
  which `None` stands for.
"""
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

TIMESTAMP = attrgetter("timestamp")


@dataclass(frozen=True)
class Summary:
    channel: str
    started_at: datetime  # naive UTC, as every instant
    last_event_at: datetime
    is_counted: bool
    stop_slot: int | None  # slot id
    reached: Counter  # slot id -> times shown
    steps: Counter  # (from slot id or None, to slot id or None) -> transitions


def summarize(events, slot_ids):
    """The summary of a dialog whose events are all given, in arrival order, each
    once (a re-sent copy is not stored, so it must not count); `slot_ids` maps
    their slot keys to ids."""
    first = min(e.timestamp for e in events)
    nothing_yet = Summary(events[0].channel, first, first, False, None, Counter(), Counter({(None, None): 1}))
    return extend(nothing_yet, events, slot_ids)


def extend(summary, events, slot_ids):
    """The summary once `events` (in arrival order, each once, all later than every
    event it covers) are added: the path goes on from the stop slot, and its
    ending moves to the new stop slot.

    Counted in place on copies, rather than with Counter arithmetic, which builds a
    new Counter for every sum: live traffic extends a thousand dialogs a batch."""
    in_order = sorted(events, key=TIMESTAMP) if len(events) > 1 else events  # sorted() is stable
    shown = [slot_ids[e.slot] for e in in_order if e.slot]
    reached, steps = Counter(summary.reached), Counter(summary.steps)
    previous = summary.stop_slot
    if shown:
        ending = (previous, None)
        steps[ending] -= 1
        if not steps[ending]:
            del steps[ending]
        for slot in shown:
            reached[slot] += 1
            if slot != previous:
                steps[previous, slot] += 1
            previous = slot
        steps[previous, None] += 1
    return Summary(
        channel=summary.channel,
        started_at=summary.started_at,
        last_event_at=max(summary.last_event_at, *(e.timestamp for e in events)),
        is_counted=summary.is_counted or any(e.sender == "user" for e in events),
        stop_slot=previous,
        reached=reached,
        steps=steps,
    )
