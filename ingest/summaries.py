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
from itertools import groupby
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
    their slot keys to ids. Counted in C (`Counter` of an iterable): an import
    makes one for every dialog it creates."""
    in_order, shown = _in_order(events, slot_ids)
    path = [None, *(slot for slot, _ in groupby(shown)), None]  # repeats merged
    return Summary(
        channel=events[0].channel,
        started_at=in_order[0].timestamp,
        last_event_at=in_order[-1].timestamp,
        is_counted=any(e.sender == "user" for e in events),
        stop_slot=shown[-1] if shown else None,
        reached=Counter(shown),
        steps=Counter(zip(path, path[1:])),
    )


def extend(summary, events, slot_ids):
    """The summary once `events` (in arrival order, each once, all later than every
    event it covers) are added: the path goes on from the stop slot, and its
    ending moves to the new stop slot. Counted on copies: the stored summary stays
    as it was read, for the rows that changed to be told from it."""
    in_order, shown = _in_order(events, slot_ids)
    reached, steps = Counter(summary.reached), Counter(summary.steps)
    stop_slot = summary.stop_slot
    if shown:
        ending = (stop_slot, None)
        steps[ending] -= 1
        if not steps[ending]:
            del steps[ending]
        path = [slot for slot, _ in groupby([stop_slot, *shown])]  # repeats merged, from the old stop slot
        path.append(None)
        reached.update(shown)
        steps.update(zip(path, path[1:]))
        stop_slot = shown[-1]
    return Summary(
        channel=summary.channel,
        started_at=summary.started_at,
        last_event_at=max(summary.last_event_at, in_order[-1].timestamp),
        is_counted=summary.is_counted or any(e.sender == "user" for e in events),
        stop_slot=stop_slot,
        reached=reached,
        steps=steps,
    )


def _in_order(events, slot_ids):
    """The events by timestamp, then arrival (`sorted` is stable), and the ids of the slots they show in that order."""
    in_order = sorted(events, key=TIMESTAMP) if len(events) > 1 else events
    return in_order, [slot_ids[e.slot] for e in in_order if e.slot]
