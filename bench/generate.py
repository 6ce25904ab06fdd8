"""Deterministic benchmark data: agents with 50–300 slots and ~10 events per dialog
over 90 days, written straight into a Slotlens SQLite database.

Events go in with plain executemany (ingestion's own speed is measured separately);
the per-dialog summaries (with each dialog's latest event, which Abandoned and In
progress follow), paths and daily totals are then computed by the application's
own functions, so the reports read exactly what ingestion would leave. Every tenth
slot of a script is a handover, for the outcome rules the benchmark gives.
"""
import os
import sqlite3
import time
from datetime import datetime, timedelta

import numpy as np
from peewee import fn

import database
import models
from access import api_keys
from database import bulk, migrations
from ingest import daily_totals, paths, rules, writer

SEED = 20261126
END = datetime(2026, 11, 1)
DAYS = 90
CHANNELS = ["web", "telegram", "whatsapp", "app"]
SENDERS = np.array(["user", "bot", "system"])
VERSION = 8  # bump when the data shape changes, so cached databases are rebuilt
HANDOVER_EVERY = 10  # every tenth step of a script hands over to a person (slot type `handover`, for outcome rules)


def agent_specs(big_dialogs):
    """(name, dialogs, slots): one big agent and two smaller ones."""
    return [("Big Bot", big_dialogs, 200), ("Medium Bot", max(big_dialogs // 10, 10), 300), ("Small Bot", max(big_dialogs // 100, 10), 50)]


def slot_type(step):
    return "handover" if step % HANDOVER_EVERY == HANDOVER_EVERY - 1 else "message"


def database_path(folder, big_dialogs):
    return os.path.join(folder, f"bench-{big_dialogs}.db")


def ensure_database(folder, big_dialogs, log=print):
    """The benchmark database for this size, built once and then reused."""
    path = database_path(folder, big_dialogs)
    if os.path.exists(path):
        with sqlite3.connect(path) as db:
            try:
                reusable = db.execute("SELECT version FROM bench_version").fetchone() == (VERSION,)
            except sqlite3.OperationalError:
                reusable = False
        if reusable:
            upgrade_schema(path)  # a schema change since does not change the data; its migration applies (v22 fills last_event_at)
            return path
        os.remove(path)
    os.makedirs(folder, exist_ok=True)
    started = time.perf_counter()
    build(path, big_dialogs, log)
    log(f"  generated {path} in {time.perf_counter() - started:.0f} s")
    return path


def upgrade_schema(path):
    database.db.initialize(database.open_database(f"sqlite:///{path}"))
    with database.db.connection_context():
        migrations.upgrade()
    database.db.close()


def build(path, big_dialogs, log):
    database.db.initialize(database.open_database(f"sqlite:///{path}"))
    migrations.upgrade()
    rng = np.random.default_rng(SEED)
    with database.db.connection_context():
        for name, dialogs, slots in agent_specs(big_dialogs):
            log(f"  generating {name}: {dialogs:,} dialogs, {slots} slots")
            agent, _ = api_keys.create_agent(name)
            writer.upsert_slots(
                agent, [rules.SlotIn(f"s{i:03d}", f"Step {i}", slot_type(i), f"Bot text {i},\nline 2") for i in range(slots)]
            )
            slot_ids = np.array([s.id for s in models.Slot.select(models.Slot.id).where(models.Slot.agent == agent).order_by(models.Slot.key)])
            _write_agent(agent, dialogs, slot_ids, rng)
        log("  computing the slot paths of every dialog, and their daily totals")
        paths.backfill_paths()
        daily_totals.rebuild()
        database.db.execute_sql("ANALYZE")
        database.db.execute_sql("CREATE TABLE bench_version (version INTEGER)")
        database.db.execute_sql("INSERT INTO bench_version VALUES (?)", (VERSION,))
    database.db.close()


def _write_agent(agent, dialogs, slot_ids, rng):
    """Dialogs walking the script, dropping off at random; 5% never hear from the user."""
    first_id = (models.Dialog.select(fn.MAX(models.Dialog.id)).scalar() or 0) + 1
    starts = np.datetime64(END - timedelta(days=DAYS), "s") + rng.uniform(0, DAYS * 86400, dialogs).astype("timedelta64[s]")
    lengths = rng.integers(2, 19, dialogs)  # events per dialog, mean 10
    dialog_of = np.repeat(np.arange(dialogs), lengths)
    position = np.arange(len(dialog_of)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    offsets = position * 37 + rng.integers(0, 30, len(dialog_of))  # seconds since the dialog started
    sender = np.where(position % 2 == 0, 1, 0)  # the bot speaks, the user answers
    sender[rng.random(len(sender)) < 0.05] = 2
    silent = rng.random(dialogs) < 0.05
    sender[(sender == 0) & silent[dialog_of]] = 1
    script_step = np.minimum(position // 2, len(slot_ids) - 1)
    slot = np.where(sender == 1, slot_ids[(script_step + rng.integers(0, 3, len(script_step))) % len(slot_ids)], 0)
    slot[rng.random(len(slot)) < 0.2] = 0  # not every message names a slot
    timestamps = np.datetime_as_string(starts.astype("datetime64[s]")[dialog_of] + offsets.astype("timedelta64[s]"), unit="s")
    timestamps = np.char.replace(timestamps, "T", " ")

    channels = rng.integers(0, len(CHANNELS), dialogs)
    dialog_rows = [
        (agent.id, f"{agent.slug}-{d}", CHANNELS[channels[d]], str(starts[d].astype("datetime64[s]")).replace("T", " "), 0)
        for d in range(dialogs)
    ]
    event_rows = zip(
        (dialog_of + first_id).tolist(),
        SENDERS[sender].tolist(),
        [s if s else None for s in slot.tolist()],
        timestamps.tolist(),
        range(len(dialog_of)),
    )
    cursor = database.db.cursor()
    with database.db.atomic():
        cursor.executemany(
            "INSERT INTO dialog (agent_id, external_id, channel, started_at, is_counted) VALUES (?, ?, ?, ?, ?)", dialog_rows
        )
        cursor.executemany(
            "INSERT INTO event (dialog_id, sender, slot_id, text, timestamp, fingerprint) VALUES (?, ?, ?, 'message', ?, ?)",
            event_rows,
        )
        cursor.executemany(
            "INSERT OR IGNORE INTO channel (agent_id, name) VALUES (?, ?)", [(agent.id, c) for c in CHANNELS]
        )
    ids = list(range(first_id, first_id + dialogs))
    with database.db.atomic():
        for part in bulk.chunks(ids):
            paths.refresh_dialog_summaries(part)
