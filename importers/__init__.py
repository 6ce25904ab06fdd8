"""Getting history in without writing code: every importer turns its source into
events shaped like the API's, and `write_events` takes them from there.

So an import is validated by the API's rules (`ingest.rules.validate_events`), written
by its write path (`ingest.writer.ingest_events`: all or nothing per batch, idempotent,
summaries kept exact), and ends with what it imported and what it skipped and why.

A source is an iterable of `Item`s with `done` and `total` (its own units of
progress: lines, bytes, rows) and `unit` (what it calls a skipped item: "lines",
"events"); it may offer `slot_catalogue`, the slots it knows more about than their
key (name, type), which are written before the events that name them, with the
text of the first stored bot event in each; and `unread`, the parts of it (files)
that could not be read at all, which make the import incomplete. A source that
learns nothing while it is read but `done` says `reads_ahead`: it is read in a
second process while this one writes (`importers.read_ahead`).
"""
import contextlib
import json
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from database.bulk import checkpoints_spaced
from importers import read_ahead
from ingest import decoding, rules, writer
from ingest.collector import cycles_collected_after
from languages.stored import N_, StoredText
from privacy.masking import Masker

BATCH = 10_000  # events a transaction: a commit, its WAL checkpoint and the daily totals cost about the same for 1,000 (peak RSS stays under 200 MB)
LINE = StoredText(N_("line %(line)s"), line=r"\d+")  # where an item of a file of lines is: stored with its skip reason, shown translated
EVENT = StoredText(N_("%(file)s event %(number)s"), number=r"\d+")  # where an event of a file of events is
SKIPS_KEPT = 50  # reasons kept for the summary; the count covers all of them
GROUPS_KEPT = 50  # distinct reasons counted; the skipped count covers the others too


class ImportFailed(Exception):
    """The source cannot be read at all, or stopped being readable (a message for people)."""


class Item(NamedTuple):
    """One event of the source: where it is (for messages), and either the
    API-shaped payload, or a line of JSON holding it (decoded in bulk by the
    fast path), or why it cannot become one. A tuple: a source makes one for
    every line, and a tuple is made in a third of a frozen dataclass's time."""

    where: str
    payload: dict | None
    reason: str | None = None
    line: bytes | None = None


@dataclass
class Outcome:
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    reasons: list = field(default_factory=list)  # (where, reason), the first SKIPS_KEPT
    groups: dict = field(default_factory=dict)  # reason -> [reason, how many, where first], the first GROUPS_KEPT reasons

    def skip(self, where, reason):
        self.skipped += 1
        if len(self.reasons) < SKIPS_KEPT:
            self.reasons.append((where, reason))
        group = self.groups.get(reason)
        if group is not None:
            group[1] += 1
        elif len(self.groups) < GROUPS_KEPT:
            self.groups[reason] = [reason, 1, where]

    def summary(self, agent_name, unit):
        return (
            f"Imported {self.imported} new events into {agent_name!r}; {self.duplicates} were already stored; "
            f"{self.skipped} {unit} skipped."
        )

    def details(self):
        """One line per kept reason, and how many more there were."""
        lines = [f"  {where}: {reason}" for where, reason in self.reasons]
        if self.skipped > len(self.reasons):
            lines.append(f"  ... and {self.skipped - len(self.reasons)} more skipped.")
        return lines

    def as_dict(self):
        return {"imported": self.imported, "duplicates": self.duplicates, "skipped": self.skipped, "reasons": self.reasons}


def describe(errors):
    """The API's error list as one line: `field: message; …`."""
    return "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)


def write_events(agent, source, config, on_progress=None, batch_size=BATCH, import_job=None):
    """Validate and store the source's events in batches; returns the Outcome.

    `on_progress(done, total, outcome)` is called after every `batch_size` items
    read, whether or not any was valid: a file whose every line is refused still
    shows that it moves. What was written before an ImportFailed stays written:
    importing again skips it. `import_job` (an id) marks the new events as that
    Admin → Import job's (`importers.removal`).
    """
    outcome = Outcome()
    limits, catalogue, masker = rules.Limits.from_config(config), getattr(source, "slot_catalogue", {}), Masker.of(agent)

    def prepared_batches(skip):
        return _prepared_batches(source, limits, batch_size, masker, skip)

    if read_ahead.possible(source):
        batches = read_ahead.read_ahead(prepared_batches, outcome.skip)
    else:
        batches = prepared_batches(outcome.skip)
    with checkpoints_spaced(), contextlib.closing(batches):
        while True:
            with cycles_collected_after():  # reading a batch, and writing it (`ingest.collector`)
                try:
                    batch, done = next(batches, (None, None))
                except read_ahead.ReaderLost as exc:
                    raise ImportFailed(str(exc)) from None
                if batch is None:
                    return outcome
                _write_batch(agent, batch, catalogue, limits, config["API_MAX_CHANNELS"], outcome, import_job)
            if on_progress:
                on_progress(done, source.total, outcome)


def _prepared_batches(source, limits, batch_size, masker, skip):
    """The source's valid events as `read_ahead.Batch`es, made ready for the writer
    (`ingest.writer.prepared`), each with how much of the source was read by then."""
    for validated in _validated_batches(source, limits, batch_size, skip):
        events, forms = writer.prepared(masker, [event for _, event in validated])
        yield read_ahead.Batch.of(events, forms, [where for where, _ in validated]), source.done


def _validated_batches(source, limits, batch_size, skip):
    """The source's valid events as batches of [(where, EventIn)]: one every
    `batch_size` items read (it may be empty, so progress moves however many are
    refused), and the rest. An item that is not valid goes to `skip(where, reason)`
    at once, so memory does not grow with the items refused. JSON lines and payloads
    are checked a run at a time (`ingest.decoding`), and one by one only in a run
    where one is bad, to say which."""
    batch, lines, payloads = [], [], []

    def take(where, payload):
        events, errors = rules.validate_events([payload], limits)
        if errors:
            skip(where, describe(errors))
        else:
            batch.append((where, events[0]))

    def take_line(where, line):
        try:
            take(where, json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError):
            skip(where, "not valid JSON")

    def take_run(run, decode_all, take_one):
        """The pending (where, line or payload) items of `run`, checked together."""
        events = decode_all([raw for _, raw in run], limits)
        if events is not None:
            batch.extend((where, event) for (where, _), event in zip(run, events))
        for where, raw in run if events is None else ():
            take_one(where, raw)
        run.clear()

    def take_pending():
        if lines:
            take_run(lines, decoding.decode_lines, take_line)
        if payloads:
            take_run(payloads, decoding.decode_items, take)

    for read, item in enumerate(source, start=1):
        if item.line is not None:
            if payloads:  # the events keep the source's order: it is their arrival order
                take_pending()
            lines.append((item.where, item.line))
        elif item.payload is not None:
            if lines:
                take_pending()
            payloads.append((item.where, item.payload))
        elif item.reason:
            skip(item.where, item.reason)
        if read % batch_size == 0:
            take_pending()
            yield batch
            batch = []
    take_pending()
    yield batch


def _described_slots(catalogue, events):
    """The catalogue's slots that the events name, sorted by key, each with the
    text of the first bot event in it: only an event being stored names a slot's
    text, never one that was skipped."""
    if not catalogue:  # JSON Lines and CSV know only keys
        return []
    texts = {}
    for event in events:
        if event.sender == "bot" and event.slot and event.text:
            texts.setdefault(event.slot, event.text)
    keys = sorted({event.slot for event in events if event.slot} & catalogue.keys())
    return [replace(catalogue[key], text=texts.get(key, "")) for key in keys]


def _write_batch(agent, batch, catalogue, limits, max_channels, outcome, import_job):
    """Store a `read_ahead.Batch`; events the database rejects (a dialog on another
    channel, a channel past the agent's cap) are skipped with their reasons, and the
    rest of the batch stored. What the source says about a slot is kept only where
    the API would take it (`ingest.rules.valid_slots`); the slot is created by its
    key otherwise."""
    events, forms, wheres = batch.events, batch.forms, None
    while events:
        known = rules.valid_slots(_described_slots(catalogue, events), limits)
        try:
            new, duplicates = writer.ingest_events(agent, events, max_channels, described=known, import_job=import_job, forms=forms)
        except rules.IngestError as exc:
            wheres = batch.where() if wheres is None else wheres
            bad = {e["index"] for e in exc.errors}
            for e in exc.errors:
                outcome.skip(wheres[e["index"]], describe([e]))
            kept = [i for i in range(len(events)) if i not in bad]
            events, forms, wheres = [events[i] for i in kept], [forms[i] for i in kept], [wheres[i] for i in kept]
            continue
        outcome.imported += new
        outcome.duplicates += duplicates
        return
