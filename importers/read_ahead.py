"""Reading an import's source in a second process while this one writes.

A third of an import's time went to work on each event that needs no database:
reading the file, decoding and checking JSON, masking texts, fingerprinting.
A thread could not take it off the writer (the GIL made that 16 % slower); a
forked process runs it on another core, a batch ahead of the writer, and hands
each batch over as msgpack, which msgspec reads back in C in a small part of
the time the batch took to make.

Only a source that learns nothing while it is read but how far it got (`done`)
can be read so (`reads_ahead`): whatever else it learned would stay in the
reader's copy of it. The reader ends with the import: it is stopped when the
writer stops, and finds its pipe closed if the writer dies.
"""
import contextlib
import multiprocessing
import pickle

import msgspec

from ingest.rules import EventIn


class Batch(msgspec.Struct, array_like=True):
    """Valid events as the writer takes them (`ingest.writer.prepared`): masked,
    with their stored forms; and where each was read, as msgpack of a list, read
    only when the writer refuses an event and must say where it was."""

    events: list[EventIn]
    forms: list[tuple[int, str]]
    wheres: msgspec.Raw

    @classmethod
    def of(cls, events, forms, wheres):
        return cls(events, forms, msgspec.Raw(msgspec.msgpack.encode(wheres)))

    def where(self):
        """Where each event was read, in order."""
        return msgspec.msgpack.decode(self.wheres, type=list[str])


class Read(msgspec.Struct, tag=True, array_like=True):
    """A batch, the items skipped while reading it, and how much of the source was read by then."""

    batch: Batch
    skipped: list[tuple[str, str]]
    done: int


class Ended(msgspec.Struct, tag=True, array_like=True):
    """The source was read to its end."""


class Failed(msgspec.Struct, tag=True, array_like=True):
    """Reading raised `error` (pickled), which the writer raises in its turn."""

    error: bytes


MESSAGES = msgspec.msgpack.Decoder(Read | Ended | Failed)


def possible(source):
    """Whether `source` may be read in a second process here: it says so, and this
    process may have children (a daemonic one, such as Huey's process worker, may not)."""
    return getattr(source, "reads_ahead", False) and not multiprocessing.current_process().daemon


class ReaderLost(Exception):
    """The reader process ended without a word (killed, out of memory)."""


def read_ahead(batches, skip):
    """What `batches(skip)` yields, (`Batch`, how much of the source was read), made
    in a forked process, in its order; what it skipped is passed on to `skip` before
    the batch is yielded, as if it had been read here."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(target=_read, args=(sending, batches), name="import reader", daemon=True)
    reader.start()
    sending.close()
    try:
        while True:
            message = _received(receiving, reader)
            if isinstance(message, Ended):
                return
            if isinstance(message, Failed):
                raise pickle.loads(message.error)
            for where, reason in message.skipped:
                skip(where, reason)
            yield message.batch, message.done
    finally:
        receiving.close()
        reader.terminate()
        reader.join()


def _received(receiving, reader):
    """The reader's next message, once it has sent it."""
    try:
        return MESSAGES.decode(receiving.recv_bytes())
    except (EOFError, OSError):  # gone between two messages, or in the middle of one
        reader.join()
        raise ReaderLost(f"the process reading the file stopped (exit code {reader.exitcode})") from None


def _read(sending, batches):
    """The reader process: every batch, then Ended, or Failed with what reading raised."""
    encoder, skipped = msgspec.msgpack.Encoder(), []
    try:
        for made, done in batches(lambda where, reason: skipped.append((where, reason))):
            message = encoder.encode(Read(made, skipped, done))
            skipped.clear()
            try:
                sending.send_bytes(message)
            except OSError:  # the writer has gone: nobody is left to tell
                return
        last = Ended()
    except BaseException as exc:  # whatever the source raises, ImportFailed above all
        last = Failed(_pickled(exc))
    with contextlib.suppress(OSError):
        sending.send_bytes(encoder.encode(last))


def _pickled(exc):
    """`exc` pickled, or a RuntimeError naming its type where it cannot be."""
    try:
        return pickle.dumps(exc)
    except Exception:
        return pickle.dumps(RuntimeError(f"reading the source raised {type(exc).__name__}"))
