"""Python's cyclic garbage collector, held off while a batch is ingested.

A batch allocates and keeps some hundred thousand objects at once (events, rows,
summaries). Every few hundred allocations the collector looks for cycles, and
every so often it walks all the objects kept so far: on a history import that
was a third of the time, for cycles ingestion does not make. Its objects are
freed by reference counting as ever; only the search for cycles waits until the
batch is written.
"""
import contextlib
import gc


@contextlib.contextmanager
def cycles_collected_after():
    """Run the block with the cyclic collector off, then collect its young
    generations once (the older ones keep their usual schedule)."""
    if not gc.isenabled():  # someone else holds it off; they collect
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)
