"""The schema's own floor for ingestion: every row Slotlens keeps for some events
(dialogs with their summaries, the events, the slot and step rows of the paths,
the daily totals), prepared beforehand and written with nothing else in one
transaction: executemany on SQLite, with Slotlens's PRAGMAs and foreign keys,
COPY on PostgreSQL. What the tables, their indexes and the disk cost for these
events, whatever the code around them. The agent's slots are written before the
clock starts (a catalogue, not rows per event), and its traffic counter (one row
a batch) is left out.

The rows are prepared as ingestion prepares them: validated, texts masked,
fingerprinted, each dialog summarised by `ingest.summaries`.
"""
import csv
import io
import sqlite3
import time
from dataclasses import dataclass, field

import database
from ingest import daily_totals, decoding, rules, summaries
from privacy.masking import Masker

AGENT = 1  # the only agent of a fresh bench stack


@dataclass
class Rows:
    """The rows of each table, as tuples in the column order of `COLUMNS`."""

    slot: list = field(default_factory=list)
    dialog: list = field(default_factory=list)
    event: list = field(default_factory=list)
    dialog_slot: list = field(default_factory=list)
    dialog_step: list = field(default_factory=list)
    daily_reach: list = field(default_factory=list)
    daily_step: list = field(default_factory=list)


SLOT_COLUMNS = ("id", "agent_id", "key", "name", "type", "text")
COLUMNS = {  # in the order they are written: a row's foreign keys before it
    "dialog": ("id", "agent_id", "external_id", "channel", "started_at", "last_event_at", "is_counted", "stop_slot_id"),
    "event": ("dialog_id", "sender", "slot_id", "text", "timestamp", "fingerprint"),
    "dialog_slot": ("dialog_id", "agent_id", "slot_id", "is_counted", "started_at", "channel", "times_shown"),
    "dialog_step": ("dialog_id", "agent_id", "from_slot_id", "to_slot_id", "is_counted", "started_at", "channel", "transitions"),
    "daily_reach": ("agent_id", "day", "channel", "slot_id", "reached", "times_shown"),
    "daily_step": ("agent_id", "day", "channel", "from_slot", "to_slot", "dialogs", "transitions"),
}


def prepared(payloads):
    """The `Rows` Slotlens keeps for these API events (dicts, one agent, a fresh database)."""
    limits = rules.Limits(batch=len(payloads))
    events = decoding.decode_items(payloads, limits) or rules.validate_events(payloads, limits)[0]
    events = Masker(True).events(events)
    keys = sorted({e.slot for e in events if e.slot})
    slot_ids = {key: n for n, key in enumerate(keys, start=1)}
    by_dialog = {}
    for e in events:
        by_dialog.setdefault(e.dialog_id, {}).setdefault(e.fingerprint, e)  # a re-sent event is stored once
    rows, totals = Rows(), daily_totals.Totals()
    rows.slot = [(n, AGENT, key, key, "unknown", "") for key, n in slot_ids.items()]
    for pk, (external_id, kept) in enumerate(by_dialog.items(), start=1):
        s = summaries.summarize(list(kept.values()), slot_ids)
        copied = (s.is_counted, str(s.started_at), s.channel)
        rows.dialog.append((pk, AGENT, external_id, s.channel, str(s.started_at), str(s.last_event_at), s.is_counted, s.stop_slot))
        rows.event += [(pk, e.sender, slot_ids.get(e.slot), e.text, str(e.timestamp), fingerprint) for fingerprint, e in kept.items()]
        rows.dialog_slot += [(pk, AGENT, slot, *copied, n) for slot, n in s.reached.items()]
        rows.dialog_step += [(pk, AGENT, a, b, *copied, n) for (a, b), n in s.steps.items()]
        if s.is_counted:
            daily_totals.add_rows(totals, AGENT, s, s.reached, s.steps)
    rows.daily_reach = [(*key, *counts) for key, counts in sorted(totals.reach.items())]
    rows.daily_step = [(*key, *counts) for key, counts in sorted(totals.steps.items())]
    return rows


def inserting(table, columns, placeholder):
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})"


def sqlite_seconds(path, rows):
    """Seconds to write `rows` into the fresh Slotlens database at `path` with executemany."""
    with sqlite3.connect(path) as db:
        for name, value in database.SQLITE_PRAGMAS.items():
            db.execute(f"PRAGMA {name} = {value}")
        db.executemany(inserting("slot", SLOT_COLUMNS, "?"), rows.slot)
        db.commit()
        started = time.perf_counter()
        for table, columns in COLUMNS.items():
            db.executemany(inserting(table, columns, "?"), getattr(rows, table))
        db.commit()
        return time.perf_counter() - started


def postgres_seconds(database_url, rows):
    """Seconds to write `rows` into the fresh Slotlens database at `database_url` with COPY.

    Every text value of these tables is non-empty, so CSV's empty unquoted value can
    stand for NULL."""
    import psycopg2
    from psycopg2.extras import execute_batch

    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            execute_batch(cursor, inserting("slot", SLOT_COLUMNS, "%s"), rows.slot)
            connection.commit()
            started = time.perf_counter()
            for table, columns in COLUMNS.items():
                buffer = io.StringIO()
                csv.writer(buffer).writerows(getattr(rows, table))
                buffer.seek(0)
                cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
            connection.commit()
            return time.perf_counter() - started
    finally:
        connection.close()


# Live traffic ------------------------------------------------------------------------
# Its batches change rows that earlier batches wrote (a dialog's summary, its path
# rows, the day's totals) rather than only adding rows: its floor is the writes each
# batch makes, one transaction a batch, not every final row written once.

WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Write:
    """A statement the writer sent, and its rows (executemany) or its parameters."""

    sql: str
    rows: list = None
    params: tuple = None


def live_writes(app, batches):
    """The writes of each batch (API events, dicts) as `ingest.writer.ingest_events`
    makes them into the app's fresh SQLite database: per batch, a list of `Write`s,
    its reads left out."""
    from database import db
    from ingest import writer
    from models import Agent

    recorded = []

    class Recording:
        def __init__(self, cursor):
            self.cursor = cursor

        def __getattr__(self, name):
            return getattr(self.cursor, name)

        def __iter__(self):
            return iter(self.cursor)

        def execute(self, sql, params=()):
            if sql.lstrip().split(None, 1)[0].upper() in WRITES:
                recorded[-1].append(Write(sql, params=tuple(params)))
            return self.cursor.execute(sql, params)

        def executemany(self, sql, rows):
            rows = list(rows)
            recorded[-1].append(Write(sql, rows=rows))
            return self.cursor.executemany(sql, rows)

    with app.app_context():
        agent = Agent.get()
        limits = rules.Limits(batch=max(len(batch) for batch in batches))
        cursor = type(db.obj).cursor
        type(db.obj).cursor = lambda self, *args, **kwargs: Recording(cursor(self, *args, **kwargs))
        try:
            for batch in batches:
                events = decoding.decode_items(batch, limits) or rules.validate_events(batch, limits)[0]
                recorded.append([])
                writer.ingest_events(agent, events)
        finally:
            type(db.obj).cursor = cursor
    return recorded


def replayed_seconds(path, writes):
    """Seconds to make `writes` (`live_writes`) into the fresh Slotlens database at
    `path` with nothing else: executemany or execute, a transaction a batch."""
    with sqlite3.connect(path, isolation_level=None) as db:
        for name, value in database.SQLITE_PRAGMAS.items():
            db.execute(f"PRAGMA {name} = {value}")
        started = time.perf_counter()
        for batch in writes:
            db.execute("BEGIN IMMEDIATE")
            for write in batch:
                if write.rows is not None:
                    db.executemany(write.sql, write.rows)
                else:
                    db.execute(write.sql, write.params).fetchall()  # an INSERT … RETURNING runs as its rows are read
            db.execute("COMMIT")
        return time.perf_counter() - started
