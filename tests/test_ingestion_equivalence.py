"""Ingestion's summaries against a deliberately plain reference.

Ingestion takes shortcuts for speed (dialogs a batch creates are summarised in
Python, others recomputed in SQL, daily totals kept by differences). The
reference below takes none: it keeps the first copy of every event, sorts each
dialog's events and counts. Random streams (re-sent events and batches, events
out of order, ties, dialogs spread over many batches, concurrent writers) must
leave exactly the tables the reference computes from the same events.
"""
import collections
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from database import db
from ingest import paths, rules, writer
from models import DailyReach, DailyStep, Dialog, DialogSlot, DialogStep, Event, Slot
from tests.conftest import make_agent

SLOT_KEYS = ["greet", "ask_name", "ask_size", "pay", "bye", "help"]
START = datetime(2026, 3, 1, 22, 0)  # dialogs cross midnight: two days of daily totals


def reference(stream):
    """The tables a stream of events (in arrival order) must leave, computed plainly."""
    kept, seen = collections.defaultdict(list), set()
    for arrival, event in enumerate(stream):
        if (event.dialog_id, event.fingerprint) not in seen:
            seen.add((event.dialog_id, event.fingerprint))
            kept[event.dialog_id].append((event.timestamp, arrival, event))
    dialogs, slots, steps = {}, {}, collections.Counter()
    reach_totals, step_totals = collections.defaultdict(lambda: [0, 0]), collections.defaultdict(lambda: [0, 0])
    for dialog, items in kept.items():
        events = [event for _, _, event in sorted(items, key=lambda item: item[:2])]
        channel, started_at = events[0].channel, min(event.timestamp for event in events)
        counted = any(event.sender == "user" for event in events)
        path = [event.slot for event in events if event.slot]
        dialogs[dialog] = (channel, started_at, counted, path[-1] if path else None)
        for slot in set(path):
            slots[dialog, slot] = (counted, started_at, channel, path.count(slot))
        merged = [slot for i, slot in enumerate(path) if i == 0 or path[i - 1] != slot]
        for pair in zip([None] + merged, merged + [None]):
            steps[(dialog, *pair)] += 1
        if counted:
            day = started_at.date()
            for slot in set(path):
                reach_totals[day, channel, slot][0] += 1
                reach_totals[day, channel, slot][1] += path.count(slot)
            for pair in set(zip([None] + merged, merged + [None])):
                step_totals[(day, channel, *pair)][0] += 1
                step_totals[(day, channel, *pair)][1] += steps[(dialog, *pair)]
    return dict(
        dialogs=dialogs,
        slots=slots,
        steps={(d, *pair): (dialogs[d][2], dialogs[d][1], dialogs[d][0], n) for (d, *pair), n in steps.items()},
        reach_totals={key: tuple(counts) for key, counts in reach_totals.items()},
        step_totals={key: tuple(counts) for key, counts in step_totals.items()},
        events=collections.Counter((dialog, event.text) for dialog, items in kept.items() for _, _, event in items),
    )


def stored():
    """The same tables as ingestion left them, with keys instead of row ids. A daily
    total that came back to (0, 0) is left out; one with a count left over is not."""
    key = dict(Slot.select(Slot.id, Slot.key).tuples())
    key[None] = key[0] = None  # (start)/(end): NULL in the per-dialog rows, 0 in the daily totals
    external = dict(Dialog.select(Dialog.id, Dialog.external_id).tuples())
    return dict(
        dialogs={
            ext: (channel, started_at, counted, key[stop])
            for ext, channel, started_at, counted, stop in Dialog.select(
                Dialog.external_id, Dialog.channel, Dialog.started_at, Dialog.is_counted, Dialog.stop_slot_id
            ).tuples()
        },
        slots={
            (external[d], key[s]): (counted, started_at, channel, times)
            for d, s, counted, started_at, channel, times in DialogSlot.select(
                DialogSlot.dialog_id, DialogSlot.slot, DialogSlot.is_counted, DialogSlot.started_at,
                DialogSlot.channel, DialogSlot.times_shown,
            ).tuples()
        },
        steps={
            (external[d], key[a], key[b]): (counted, started_at, channel, n)
            for d, a, b, counted, started_at, channel, n in DialogStep.select(
                DialogStep.dialog_id, DialogStep.from_slot, DialogStep.to_slot, DialogStep.is_counted,
                DialogStep.started_at, DialogStep.channel, DialogStep.transitions,
            ).tuples()
        },
        reach_totals={
            (day, channel, key[slot]): (dialogs, times)
            for day, channel, slot, dialogs, times in DailyReach.select(
                DailyReach.day, DailyReach.channel, DailyReach.slot, DailyReach.reached, DailyReach.times_shown
            ).tuples()
            if (dialogs, times) != (0, 0)
        },
        step_totals={
            (day, channel, key[a], key[b]): (dialogs, n)
            for day, channel, a, b, dialogs, n in DailyStep.select(
                DailyStep.day, DailyStep.channel, DailyStep.from_slot, DailyStep.to_slot, DailyStep.dialogs,
                DailyStep.transitions,
            ).tuples()
            if (dialogs, n) != (0, 0)
        },
        events=collections.Counter(
            (external[d], text) for d, text in Event.select(Event.dialog_id, Event.text).tuples()
        ),  # a missing text stays missing, an empty one empty
    )


def random_stream(rng, dialogs, events, ties=True, texts=(None, "", "hi", "message")):
    """Events of `dialogs` dialogs in a random order, some sent twice; with `ties`,
    several events of a dialog share an instant (arrival order then decides)."""
    channel = {d: rng.choice(["web", "tg"]) for d in range(dialogs)}
    stream = []
    for n in range(events):
        d = rng.randrange(dialogs)
        if ties:
            instant = START + timedelta(minutes=rng.randrange(0, 180, 7))
        else:
            instant = START + timedelta(milliseconds=rng.randrange(10_000_000))
        sender = rng.choice(["user", "bot", "bot", "system"])
        slot = rng.choice(SLOT_KEYS + [None]) if sender != "user" else None
        text = rng.choice(texts)
        text = f"{text} {n % 5}" if text == "message" else text
        stream.append(rules.EventIn(f"dialog-{d}", channel[d], sender, slot, text, instant))
        if stream and rng.random() < 0.15:
            stream.append(rng.choice(stream))  # re-sent
    return stream


def batches_of(rng, stream):
    """The stream cut into batches of random sizes, some batches sent twice."""
    batches, start = [], 0
    while start < len(stream):
        size = rng.choice([1, 3, 20, 80, 300])
        batches.append(stream[start : start + size])
        start += size
        if rng.random() < 0.1:
            batches.append(batches[rng.randrange(len(batches))])
    return batches


@pytest.fixture
def agent(app):
    return make_agent("Equivalence Bot")[0]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("texts", [(None, "", "hi", "message"), (None, "hi", "message")], ids=["some empty", "none empty"])
def test_random_streams_leave_the_tables_the_reference_computes(app, agent, seed, texts):
    """With no empty text, PostgreSQL appends the events of new dialogs with COPY;
    a batch holding one is inserted (`database.bulk.append_rows`)."""
    rng = random.Random(seed)
    stream = random_stream(rng, dialogs=[5, 60, 400][seed], events=1000, texts=texts)
    sent = []
    for batch in batches_of(rng, stream):
        writer.ingest_events(agent, batch)
        sent += batch
    assert stored() == reference(sent)


def test_live_traffic_goes_on_from_the_stored_paths(app, agent, monkeypatch):
    """Events in time order, each dialog over many batches (a bot's live traffic):
    most batches only append, and their dialogs go on from the stored summary
    instead of being recomputed; re-sent events among them still are."""
    rng = random.Random(11)
    stream = sorted(random_stream(rng, dialogs=40, events=1200, ties=False), key=lambda e: e.timestamp)
    recomputed = []
    refresh = paths.refresh_paths
    monkeypatch.setattr(paths, "refresh_paths", lambda ids: (recomputed.extend(ids), refresh(ids)))
    sent = []
    for batch in batches_of(rng, stream):
        writer.ingest_events(agent, batch)
        sent += batch
    assert stored() == reference(sent)
    assert 0 < len(recomputed) < len(sent) / 10, "most batches take the append path, re-sent ones the exact one"


def test_one_batch_and_many_batches_leave_the_same_tables(app, agent):
    """The same events in one batch (every dialog created by it) and one by one
    (every dialog refreshed from its stored events): identical summaries."""
    stream = random_stream(random.Random(9), dialogs=20, events=300)
    writer.ingest_events(agent, stream)
    at_once = stored()
    for model in (DailyReach, DailyStep, DialogSlot, DialogStep, Event, Dialog):
        model.delete().execute()
    for event in stream:
        writer.ingest_events(agent, [event])
    assert stored() == at_once == reference(stream)


def test_concurrent_writers_leave_the_tables_the_reference_computes(app, agent, database_url):
    """Four writers at once, over the same dialogs, re-sending each other's events
    (on PostgreSQL: READ COMMITTED, real concurrency; on SQLite: serialised)."""
    rng = random.Random(4)
    stream = random_stream(rng, dialogs=80, events=1600, ties=False)  # no ties: arrival order is not known
    shares = [batches_of(random.Random(n), stream[n::3] + stream[: 200 * n]) for n in range(4)]

    def write(batches):
        with db.connection_context():
            for batch in batches:
                writer.ingest_events(agent, batch)

    with ThreadPoolExecutor(len(shares)) as writers:
        list(writers.map(write, shares))  # raises a writer's error, if any
    assert stored() == reference([event for share in shares for batch in share for event in batch])


def test_an_import_removed_while_writers_send_events_for_its_dialogs(app, agent, database_url, people):
    """Remove imported data while four writers send events for the same dialogs, some of
    which the import started and some of which were there before it: the tables are
    what the writers' events alone make, as if the import had never run (on PostgreSQL:
    READ COMMITTED, real concurrency). A batch that named a dialog the removal deleted
    under it is refused whole, as the API refuses it, and sent again."""
    from msgspec.structs import replace

    import peewee

    from importers import removal
    from models import Account, ImportJob

    web = lambda stream: [replace(event, channel="web") for event in stream]  # noqa: E731 (one channel: no refusals)
    imported = web(random_stream(random.Random(5), dialogs=60, events=900, ties=False))
    sent = web(random_stream(random.Random(6), dialogs=80, events=1600, ties=False))
    before, during = sent[:400], sent[400:]
    for batch in batches_of(random.Random(1), before):
        writer.ingest_events(agent, batch)
    job = ImportJob.create(account=Account.get(), agent=agent, kind="events", file_name="x.jsonl", path="x", state="done")
    for batch in batches_of(random.Random(2), imported):
        writer.ingest_events(agent, batch, import_job=job.id)
    shares = [batches_of(random.Random(n), during[n::4]) for n in range(4)]

    def write(batches):
        with db.connection_context():
            for batch in batches:
                while True:
                    try:
                        writer.ingest_events(agent, batch)
                        break
                    except peewee.IntegrityError:  # its dialog was deleted under it: the sender tries again
                        continue

    def remove():
        with db.connection_context():
            removal.remove(job.id)

    with ThreadPoolExecutor(len(shares) + 1) as pool:
        running = [pool.submit(write, share) for share in shares[:2]] + [pool.submit(remove)]
        running += [pool.submit(write, share) for share in shares[2:]]
        [future.result() for future in running]  # a writer's error, if any
    assert stored() == reference(before + [event for share in shares for batch in share for event in batch])
