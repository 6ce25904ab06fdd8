"""Where `import-events`' time goes: the share of each step, measured in-process
with a clock around each step's function rather than a profiler, whose own cost
per call would weigh most on the steps called most.

A step's time excludes the steps it calls, so the shares add up to the whole.
They are the writer's: reading, decoding and checking the JSON, masking and
fingerprinting happen beside it, in its reader process (`importers.read_ahead`).
"""
import collections
import functools
import time

STEPS = {  # (module, attribute) -> what the step is called in the table
    ("importers.read_ahead", "_received"): "waiting for the reader process, taking its batch (msgpack)",
    ("ingest.writer", "ingest_events"): "the writer itself: paths that go on, the rest of the batch's bookkeeping (Python)",
    ("ingest.writer", "summarize"): "summaries of new dialogs (Python)",
    ("ingest.writer", "_insert_paths"): "slot and step rows of new dialogs (Python)",
    ("ingest.writer", "_ensure_dialogs"): "dialog rows (Python)",
    ("ingest.writer", "insert_rows_returning"): "inserting dialogs",
    ("ingest.writer", "_insert_events"): "event rows (Python)",
    ("ingest.writer", "insert_rows"): "INSERT … ON CONFLICT: stored dialogs' events, channels, slots",
    ("ingest.writer", "append_rows"): "appending new dialogs' events, slot and step rows (COPY on PostgreSQL)",
    ("ingest.daily_totals", "apply_change"): "adding to the daily totals",
    ("ingest.traffic", "count"): "the agent's traffic counter",
    ("ingest.writer", "_appended_to"): "reading stored dialogs' summaries",
    ("ingest.writer", "give_outcomes"): "outcome rules",
    ("peewee", "_transaction.__exit__"): "commit (and SQLite's checkpoints)",
}
REST = "the rest"


def shares(run):
    """(seconds in all, [(step, seconds)] largest first) of `run()`, with every step of STEPS timed."""
    import importlib

    spent, inner = collections.Counter(), []
    patched = []
    for (module_name, path), label in STEPS.items():
        owner = importlib.import_module(module_name)
        *outer, name = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        original = getattr(owner, name)
        patched.append((owner, name, original))
        setattr(owner, name, _timed(original, label, spent, inner))
    try:
        started = time.perf_counter()
        run()
        total = time.perf_counter() - started
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)
    spent[REST] = total - sum(spent.values())
    return total, spent.most_common()


def _timed(function, label, spent, inner):
    """`function`, adding its own time (less the timed steps it calls) to `spent[label]`."""
    @functools.wraps(function)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        inner.append(0.0)
        try:
            return function(*args, **kwargs)
        finally:
            took = time.perf_counter() - started
            spent[label] += took - inner.pop()
            if inner:
                inner[-1] += took
    return timed
