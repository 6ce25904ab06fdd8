"""What a dialog's events say about it, computed from the events themselves.

Ingestion stores these summaries so that no report reads events. For a dialog
that a batch creates, every event is in the batch, so the summary is computed
here in Python and written with plain INSERTs; dialogs that already had events
are recomputed in SQL (`ingestion.refresh_dialog_summaries`, `refresh_paths`).
Both follow the same rules, which the equivalence tests hold them to:

- the start is the earliest event; a dialog is counted when the user spoke;
- order is by timestamp, then arrival; the stop slot is the last slot shown;
- a path is the slots shown in order, repeats merged, from (start) to (end),
  which `None` stands for.
"""
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    channel: str
    started_at: object  # naive UTC datetime
    is_counted: bool
    stop_slot: str | None  # slot key
    reached: Counter  # slot key -> times shown
    steps: Counter  # (from key or None, to key or None) -> transitions


def summarize(events):
    """The summary of a dialog whose events are all given, in arrival order, each
    once (a re-sent copy is not stored, so it must not count)."""
    shown = [e.slot for e in sorted(events, key=lambda e: e.timestamp) if e.slot]  # sorted() is stable
    steps = Counter()
    previous = None
    for slot in shown:
        if slot != previous:
            steps[previous, slot] += 1
        previous = slot
    steps[previous, None] += 1
    return Summary(
        channel=events[0].channel,
        started_at=min(e.timestamp for e in events),
        is_counted=any(e.sender == "user" for e in events),
        stop_slot=previous,
        reached=Counter(shown),
        steps=steps,
    )
