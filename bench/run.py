"""`make bench`: Slotlens against floors measured in the same run.

Shared machines are noisy, so the figures of record are ratios to a floor taken
moments before on the same data: the `sqlite3` CLI for the report, a plain
executemany for ingestion, and a pandas script a user might write.

    python -m bench.run                 # the full run (1,000,000 dialogs), writes bench/RESULTS.md
    python -m bench.run --smoke         # tiny sizes, for the test suite
    python -m bench.run --only ingestion   # one section, printed only
"""
import argparse
import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import functools
import itertools
import math
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta

import pandas as pd

import database as database_module
from bench import generate, histories, schema_floor
from devtools import rasa_store
from devtools.memory import PeakTreeMemory
from devtools.processes import Browserless, SmtpSink, Stack, free_port
from reporting import kinds, periods
from reporting.population import in_range

HERE = os.path.dirname(os.path.abspath(__file__))
FULL = periods.Filters(agent_ids=(1,), date_from=date(2026, 8, 3), date_to=date(2026, 10, 31))
WEEK = periods.Filters(agent_ids=(1,), date_from=date(2026, 10, 1), date_to=date(2026, 10, 7))
REPEATS = 5


def timed(func, repeats=REPEATS):
    """Median wall time of `func()` over `repeats` runs, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def ratio(a, b):
    """a/b formatted, or a dash when the floor was too quick to measure (smoke sizes)."""
    return f"{a / b:.2f}×" if b > 0 else "—"


def percentile(values, fraction):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


# 1. Report build -------------------------------------------------------------------


def sqlite_cli_floor(database, filters, tz_name="UTC"):
    """The cheapest SQL that reads the same dialogs, timed by the sqlite3 CLI itself."""
    start, end = periods.period_bounds(filters.date_from, filters.date_to, tz_name)
    sql = (
        ".timer on\n"
        f"SELECT count(*) FROM dialog WHERE agent_id = 1 AND is_counted = 1"
        f" AND started_at >= '{start}' AND started_at < '{end}';\n"
    )
    runs = []
    for _ in range(REPEATS):
        output = subprocess.run(["sqlite3", database], input=sql, capture_output=True, text=True, check=True).stdout
        runs.append(float(re.search(r"Run Time: real ([\d.]+)", output).group(1)))
    return statistics.median(runs)


def pandas_report(database, filters):
    """What a user might write instead: load the events, find each dialog's stop slot."""
    start, end = periods.period_bounds(filters.date_from, filters.date_to, "UTC")
    with sqlite3.connect(database) as db:
        events = pd.read_sql_query(
            "SELECT e.id, e.dialog_id, e.sender, e.slot_id, e.timestamp FROM event e"
            " JOIN dialog d ON d.id = e.dialog_id WHERE d.agent_id = 1",
            db,
        )
        slots = pd.read_sql_query("SELECT id AS slot_id, key FROM slot WHERE agent_id = 1", db)
    events["timestamp"] = pd.to_datetime(events["timestamp"])
    events["from_user"] = events["sender"] == "user"
    per_dialog = events.groupby("dialog_id").agg(start=("timestamp", "min"), from_user=("from_user", "any"))
    counted = per_dialog[per_dialog.from_user & (per_dialog.start >= start) & (per_dialog.start < end)]
    named = events[events.slot_id.notna()].sort_values(["timestamp", "id"])
    stops = named.groupby("dialog_id").slot_id.last()
    stop_of_counted = stops.reindex(counted.index)
    result = stop_of_counted.map(dict(zip(slots.slot_id, slots.key))).fillna("").value_counts()
    return {key: int(n) for key, n in result.items()}


def csv_counts(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return {row[0]: int(row[4]) for row in list(csv.reader(f))[1:]}


def bench_report(database, app):
    import models

    rows = []
    with app.app_context():
        agent = models.Agent.get_by_id(1)
        for label, filters in (("full period (90 days)", FULL), ("one week", WEEK)):
            path = os.path.join(tempfile.mkdtemp(), "report.csv")
            build, dialogs = timed(lambda: kinds.build_report("stop-slots", agent, filters, "UTC", path))
            floor = sqlite_cli_floor(database, filters)
            pandas_time, expected = timed(lambda: pandas_report(database, filters), repeats=1)
            assert csv_counts(path) == expected, f"{label}: the report differs from the pandas result"
            rows.append(
                [f"Report build, {label}", f"{dialogs:,} dialogs", f"{build * 1000:.0f} ms",
                 f"sqlite3 CLI count: {floor * 1000:.0f} ms", f"{ratio(build, floor)} floor (target ≤ 3×)",
                 f"pandas: {pandas_time:.1f} s, {ratio(pandas_time, build)} slower (target ≥ 10×); equal result"]
            )
    return rows


TARGETS = {"slot-funnel": 3, "slot-paths": 10}  # build time, at most this many times the floor


def bench_report_family(database, app):
    """Slot funnel and Slot paths for the big agent over 90 days, against the same floor:
    in UTC (whole days only) and in Berlin (two partial days read per dialog)."""
    import models

    rows = []
    with app.app_context():
        agent = models.Agent.get_by_id(1)
        for tz_name in ("UTC", "Europe/Berlin"):
            floor = sqlite_cli_floor(database, FULL, tz_name)
            for kind, target in TARGETS.items():
                path = os.path.join(tempfile.mkdtemp(), "report.csv")
                build, dialogs = timed(lambda: kinds.build_report(kind, agent, FULL, tz_name, path))
                rows.append(
                    [f"{kinds.KINDS[kind].LABEL} build, full period (90 days), {tz_name}", f"{dialogs:,} dialogs",
                     f"{build * 1000:.0f} ms", f"sqlite3 CLI count: {floor * 1000:.0f} ms",
                     f"{ratio(build, floor)} floor (target ≤ {target}×)", "daily totals kept by ingestion"]
                )
    return rows


# 2. Ingestion ----------------------------------------------------------------------


def ingestion_events(dialogs):
    return list(iter_ingestion_events(dialogs))


def iter_ingestion_events(dialogs):
    """Ten events per dialog, one dialog after another, as an export of history holds them."""
    now = datetime(2026, 10, 1)
    for d in range(dialogs):
        for k in range(10):
            yield {"dialog_id": f"d{d}", "channel": "web", "sender": "bot" if k % 2 else "user",
                   "slot": f"s{(d + k) % 120}" if k % 2 else None, "text": "message",
                   "timestamp": (now + timedelta(seconds=d * 7 + k)).isoformat() + "+00:00"}


def live_events(dialogs, active=2_000):
    """The same kind of events as a busy bot sends them live: `active` dialogs at a
    time, each taking a turn a minute, so that every batch of 1,000 holds one event
    of 1,000 dialogs, and each dialog is spread over 10 batches."""
    now = datetime(2026, 10, 1)
    events = [
        {"dialog_id": f"d{d}", "channel": "web", "sender": "bot" if k % 2 else "user",
         "slot": f"s{(d + k) % 120}" if k % 2 else None, "text": "message",
         "timestamp": (now + timedelta(seconds=d // active * 600 + k * 60, milliseconds=d % active * 25)).isoformat() + "+00:00"}
        for d in range(dialogs) for k in range(10)
    ]
    return sorted(events, key=lambda e: e["timestamp"])


def fresh_stack(folder, smtp_port, **settings):
    stack = Stack(folder, smtp_port, **settings)
    stack.cli("init-db")
    stack.key = stack.cli("create-agent", "Bench Bot").strip().rsplit(" ", 1)[1]
    return stack


def executemany_floor(folder, events):
    """The same rows into the same tables, with nothing but executemany."""
    stack = fresh_stack(folder, free_port())
    with sqlite3.connect(stack.database) as db:
        started = time.perf_counter()
        dialog_ids = {}
        for e in events:
            dialog_ids.setdefault(e["dialog_id"], len(dialog_ids) + 1)
        db.executemany(
            "INSERT INTO dialog (id, agent_id, external_id, channel, started_at, is_counted) VALUES (?, 1, ?, 'web', ?, 1)",
            [(i, d, "2026-10-01 00:00:00") for d, i in dialog_ids.items()],
        )
        db.executemany(
            "INSERT INTO event (dialog_id, sender, slot_id, text, timestamp, fingerprint) VALUES (?, ?, NULL, ?, ?, ?)",
            [(dialog_ids[e["dialog_id"]], e["sender"], e["text"], e["timestamp"], n) for n, e in enumerate(events)],
        )
        db.commit()
        return time.perf_counter() - started


def copy_floor(database_url, events):
    """The events and their dialogs into PostgreSQL with COPY, its fastest way in."""
    import io

    import psycopg2

    dialog_ids = {}
    for e in events:
        dialog_ids.setdefault(e["dialog_id"], len(dialog_ids) + 1)
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            started = time.perf_counter()
            dialogs = io.StringIO("".join(f"{i}\t1\t{d}\tweb\t2026-10-01 00:00:00\ttrue\n" for d, i in dialog_ids.items()))
            cursor.copy_expert("COPY dialog (id, agent_id, external_id, channel, started_at, is_counted) FROM STDIN", dialogs)
            rows = io.StringIO("".join(
                f"{dialog_ids[e['dialog_id']]}\t{e['sender']}\t{e['text']}\t{e['timestamp']}\t{n}\n" for n, e in enumerate(events)
            ))
            cursor.copy_expert("COPY event (dialog_id, sender, text, timestamp, fingerprint) FROM STDIN", rows)
            connection.commit()
            return time.perf_counter() - started
    finally:
        connection.close()


def timed_api(api_stack, events):
    """Seconds for the events through POST /api/v1/events, in batches of 1,000, to the stack's real web server."""
    api_stack.start_web()
    try:
        started = time.perf_counter()
        for i in range(0, len(events), 1000):
            api_stack.api("POST", "/api/v1/events", api_stack.key, events[i : i + 1000])
        return time.perf_counter() - started
    finally:
        api_stack.stop()


def timed_ingestion(stack, events, path):
    """Seconds for the events through the API (`timed_api`) and through
    import-events, each into a fresh stack `stack(name)` makes; the file at `path`
    holds them as JSON Lines."""
    api = timed_api(stack("api"), events)
    import_stack = stack("import")
    started = time.perf_counter()
    import_stack.cli("import-events", path, "--agent", "Bench Bot")
    return api, time.perf_counter() - started


def bench_ingestion(folder, dialogs):
    """SQLite, then PostgreSQL where one answers (SLOTLENS_BENCH_POSTGRES_URL)."""
    events = ingestion_events(dialogs)
    path = os.path.join(folder, "events.jsonl")
    os.makedirs(folder, exist_ok=True)
    histories.write_jsonl(path, events)
    n = len(events)
    floor = executemany_floor(os.path.join(folder, "floor"), events)
    schema = sqlite_schema_floor(os.path.join(folder, "schema-floor"), schema_floor.prepared(events))
    api, imported = timed_ingestion(lambda name: fresh_stack(os.path.join(folder, name), free_port()), events, path)
    live = live_events(dialogs)
    live_schema = sqlite_schema_floor(os.path.join(folder, "live-schema-floor"), schema_floor.prepared(live))
    live_writes = live_writes_floor(os.path.join(folder, "live-writes"), live)
    live_api = timed_api(fresh_stack(os.path.join(folder, "live"), free_port()), live)
    schema_note = f"the schema's own floor (every row kept, executemany): {n / schema:,.0f} events/s, {ratio(schema, api)} of it"
    rows = [
        ["Ingestion, POST /api/v1/events (batches of 1,000)", f"{n:,} events", f"{n / api:,.0f} events/s",
         f"executemany: {n / floor:,.0f} events/s", f"{ratio(floor, api)} floor (target ≥ 0.3×)", schema_note],
        ["Ingestion, POST /api/v1/events, live traffic (each dialog over 10 batches)", f"{n:,} events",
         f"{n / live_api:,.0f} events/s", f"the rows each batch changes, written bare: {n / live_writes:,.0f} events/s",
         f"{ratio(live_writes, live_api)} floor of the rows it changes (target ≥ 0.25×)",
         f"every batch: 1 event of 1,000 dialogs; every final row written once: {n / live_schema:,.0f} events/s, "
         f"{ratio(live_schema, live_api)} of it"],
        ["Ingestion, import-events", f"{n:,} events", f"{n / imported:,.0f} events/s",
         f"executemany: {n / floor:,.0f} events/s", f"{ratio(floor, imported)} events-only floor",
         "includes starting the command; the target is against the schema's own floor (its rows below)"],
    ]
    return rows + bench_postgres_ingestion(folder, events, path)


def live_writes_floor(folder, events):
    """Seconds to make, with nothing else, the writes the API's writer makes for these
    events in batches of 1,000 (`schema_floor.live_writes`, recorded on a fresh stack's
    database in-process), into another fresh stack's database."""
    from app import create_app

    scratch = fresh_stack(os.path.join(folder, "recorded"), free_port())
    app = create_app({"DATABASE_URL": scratch.database_url, "SECRET_KEY": "x" * 40,
                      "QUEUE_URL": f"sqlite:///{scratch.folder}/queue.db"}, instance_path=scratch.folder)
    writes = schema_floor.live_writes(app, [events[i : i + 1000] for i in range(0, len(events), 1000)])
    return schema_floor.replayed_seconds(fresh_stack(os.path.join(folder, "replayed"), free_port()).database, writes)


def sqlite_schema_floor(folder, rows):
    """`schema_floor.sqlite_seconds` into a fresh stack's database in `folder`."""
    return schema_floor.sqlite_seconds(fresh_stack(folder, free_port()).database, rows)


POSTGRES_URL = os.environ.get("SLOTLENS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_server():
    """POSTGRES_URL if a server answers there, else None."""
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg2.OperationalError:
        return None
    return POSTGRES_URL


def postgres_stack(databases, server, folder):
    """A fresh stack in `folder` on a new PostgreSQL database of `server`, dropped when
    `databases` (an ExitStack) closes."""
    from devtools.processes import postgres_database

    url = databases.enter_context(postgres_database(server))
    return fresh_stack(folder, free_port(), database_url=url)


def bench_postgres_ingestion(folder, events, path):
    server = postgres_server()
    if server is None:
        return [["Ingestion on PostgreSQL", "", "skipped: no server at " + POSTGRES_URL, "", "", ""]]
    with contextlib.ExitStack() as databases:
        def stack(name):
            return postgres_stack(databases, server, os.path.join(folder, "pg-" + name))

        floor_stack = stack("floor")
        floor = copy_floor(floor_stack.database_url, events)
        api, imported = timed_ingestion(stack, events, path)
    n = len(events)
    return [
        ["Ingestion on PostgreSQL, POST /api/v1/events (batches of 1,000)", f"{n:,} events", f"{n / api:,.0f} events/s",
         f"COPY: {n / floor:,.0f} events/s", f"{ratio(floor, api)} floor (target ≥ 0.3×)", ""],
        ["Ingestion on PostgreSQL, import-events", f"{n:,} events", f"{n / imported:,.0f} events/s",
         f"COPY: {n / floor:,.0f} events/s", f"{ratio(floor, imported)} events-only floor",
         "includes starting the command; the target is against the schema's own floor (its rows below)"],
    ]


HISTORIES = {  # what each history is called -> its events for a number of dialogs, one dialog after another
    "the bench's history (10 events a dialog)": iter_ingestion_events,
    "many short dialogs (2–18 events, Zipf-like slots)": histories.short_dialogs,
}


RUNS = 2  # an import and its schema floor each run this often, alternated; the fastest of each counts


def bench_schema_floor(folder, dialogs):
    """import-events of each history, on SQLite and on PostgreSQL where one answers,
    against two floors written in the same run: the events and their dialogs alone,
    and every row Slotlens keeps for them (`bench.schema_floor`); with its peak RSS.
    The import and its schema floor run `RUNS` times, alternated, and the fastest of
    each counts: the floor alone moved by a tenth between runs on a quiet machine.
    Then click to email on the agent of the short dialogs, beside the report query's floor."""
    rows = []
    for name, history in HISTORIES.items():
        where = os.path.join(folder, history.__name__)
        os.makedirs(where)
        events = list(history(dialogs))
        path = os.path.join(where, "history.jsonl")
        histories.write_jsonl(path, events)
        prepared = schema_floor.prepared(events)
        with SmtpSink() as smtp:
            imports = {}  # run -> its stack

            def schema_floor_sqlite(run):
                return sqlite_schema_floor(os.path.join(where, f"schema-floor-{run}"), prepared)

            def imported(run):
                imports[run] = fresh_stack(os.path.join(where, f"import-{run}"), smtp.port)
                return import_events_measured(imports[run], path)

            events_only = executemany_floor(os.path.join(where, "events-floor"), events)
            schema, measured = fastest_alternated(schema_floor_sqlite, imported)
            rows.append(import_row(f"{name}, SQLite", len(events), measured, (events_only, schema), "executemany"))
            if history is histories.short_dialogs:
                rows.append(click_to_email_on(imports[RUNS - 1], smtp, dialogs))
        server = postgres_server()
        if server is None:
            rows.append([f"import-events, {name}, PostgreSQL", "", "skipped: no server at " + POSTGRES_URL, "", "", ""])
        else:
            with contextlib.ExitStack() as databases:
                def stack(part):
                    return postgres_stack(databases, server, os.path.join(where, "pg-" + part))

                events_only = copy_floor(stack("events-floor").database_url, events)
                schema, measured = fastest_alternated(
                    lambda run: schema_floor.postgres_seconds(stack(f"schema-floor-{run}").database_url, prepared),
                    lambda run: import_events_measured(stack(f"import-{run}"), path),
                )
                rows.append(import_row(f"{name}, PostgreSQL", len(events), measured, (events_only, schema), "COPY"))
        shutil.rmtree(where)
    return rows


def fastest_alternated(floor, imported, runs=RUNS):
    """Run `floor(run)` (seconds) and `imported(run)` ((seconds, peak RSS in MB)) in
    turns, `runs` times each; returns the fastest floor, and the fastest import with
    the largest peak RSS of all its runs."""
    floors, imports = [], []
    for run in range(runs):
        floors.append(floor(run))
        imports.append(imported(run))
    return min(floors), (min(took for took, _ in imports), max(rss for _, rss in imports))


def import_events_measured(stack, path):
    """(seconds, peak RSS in MB) of the `import-events` command importing `path` into `stack`'s agent."""
    started = time.perf_counter()
    rss = peak_rss_mb([sys.executable, "-m", "flask", "--app", "app", "import-events", path, "--agent", "Bench Bot"], stack.env)
    return time.perf_counter() - started, rss


def import_row(what, n, measured, floors, bare):
    """The table row of `import-events` of a history of n events, `measured` (seconds,
    peak RSS in MB), against the (events-only, schema) floor seconds written with `bare`."""
    (took, rss), (events_only, schema) = measured, floors
    return [f"Ingestion, import-events of {what}", f"{n:,} events", f"{n / took:,.0f} events/s, peak RSS {rss:.0f} MB",
            f"{bare}: events only {n / events_only:,.0f} events/s, every row {n / schema:,.0f} events/s",
            f"{ratio(schema, took)} schema floor (target ≥ 0.5×)",
            f"{ratio(events_only, took)} events-only floor; includes starting the command; "
            f"the import and the schema floor each the fastest of {RUNS} runs"]


def click_to_email_on(stack, smtp, dialogs, exports=10):
    """`click_to_email` for the stack's agent (all its dialogs), beside the report query's floor on its database."""
    latencies = click_to_email(stack, smtp, exports)
    today = date.today()
    floor = sqlite_cli_floor(stack.database, periods.Filters(agent_ids=(1,), date_from=today - timedelta(days=399), date_to=today))
    return ["Click to email, Stop slots (worker idle)", f"{dialogs:,} dialogs, {exports} exports",
            f"median {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s",
            f"sqlite3 CLI count of its dialogs: {floor * 1000:.0f} ms", "target: median < 0.5 s", ""]


def bench_import_profile(folder, dialogs):
    """Where the time of an import of the short dialogs goes (`bench.import_profile`), on
    SQLite and on PostgreSQL where one answers: `importers.write_events` in-process, as
    import-events runs it, into a fresh stack's database."""
    from app import create_app
    from bench import import_profile
    from importers import write_events
    from importers.jsonl import JsonLines

    os.makedirs(folder)
    path = os.path.join(folder, "history.jsonl")
    histories.write_jsonl(path, histories.short_dialogs(dialogs))
    with contextlib.ExitStack() as databases:
        stacks = {"SQLite": fresh_stack(os.path.join(folder, "sqlite"), free_port())}
        server = postgres_server()
        if server is not None:
            stacks["PostgreSQL"] = postgres_stack(databases, server, os.path.join(folder, "postgres"))
        rows = []
        for backend, stack in stacks.items():
            app = create_app({"DATABASE_URL": stack.database_url, "SECRET_KEY": "x" * 40,
                              "QUEUE_URL": f"sqlite:///{stack.folder}/queue.db"}, instance_path=stack.folder)
            with app.app_context():
                import models

                agent = models.Agent.get(models.Agent.name == "Bench Bot")
                readers_before = children_cpu_seconds()
                total, steps = import_profile.shares(lambda: write_events(agent, JsonLines(path), app.config))
                reader = children_cpu_seconds() - readers_before
            rows.append([f"Ingestion, where import-events' time goes, {backend}", f"{dialogs:,} short dialogs",
                         f"{total:.1f} s in-process, and {reader:.1f} s of CPU in its reader process beside it", "", "",
                         "; ".join(f"{step} {seconds / total:.0%}" for step, seconds in steps if seconds / total >= 0.005)])
    shutil.rmtree(folder)
    return rows


def children_cpu_seconds():
    """CPU seconds of the processes this one started and waited for (an import's reader)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rasa_rows(senders):
    """A busy Rasa tracker store: 10 rows per sender (6 become events), senders taking
    turns in blocks of 100 as in a live store."""
    turn = [("action", "action_session_start"), ("session_started", None), ("action", "action_listen"),
            ("user", "hi"), ("action", "utter_greet"), ("bot", "utter_greet"), ("action", "action_listen"),
            ("user", "I want a pizza"), ("action", "pizza_form"), ("bot", "utter_ask_pizza_size")]
    start = datetime(2026, 10, 1).timestamp()
    for block in range(0, senders, 100):
        for step, (kind, value) in enumerate(turn):
            for sender in range(block, min(block + 100, senders)):
                event = {"event": kind, "timestamp": start + sender * 7 + step}
                if kind == "action":
                    event.update(name=value, policy="RulePolicy", confidence=1.0, action_text=None, hide_rule_turn=False)
                elif kind == "user":
                    event.update(text=value, input_channel="rest", parse_data={"intent": {"name": "greet", "confidence": 0.9}, "entities": []})
                elif kind == "bot":
                    event.update(text=f"Text of {value}", metadata={"utter_action": value}, data={"buttons": None})
                yield rasa_store.row_for(f"sender-{sender:07d}", event)


def bench_rasa_import(folder, rows_by_size):
    """import-rasa from SQL tracker stores of two sizes: its rate on the first beside the
    executemany floor of the events it writes, and its peak memory (flat if it streams;
    it grows until SQLite's 64 MiB page cache is full, so both sizes are large)."""
    results = []
    for rows in rows_by_size:
        store = rasa_store.TrackerStore(f"sqlite:///{folder}/rasa-{rows}.db")
        generated = rasa_rows(rows // 10)
        while part := list(itertools.islice(generated, 100_000)):
            store.add(part)
        store.close()
        stack = fresh_stack(os.path.join(folder, f"rasa-{rows}"), free_port())
        started = time.perf_counter()
        rss = peak_rss_mb([sys.executable, "-m", "flask", "--app", "app", "import-rasa", store.url, "--agent", "Bench Bot"], stack.env)
        seconds = time.perf_counter() - started
        with sqlite3.connect(stack.database) as db:
            events = db.execute("SELECT COUNT(*) FROM event").fetchone()[0]
        results.append((rows, events, seconds, rss))
    rows, events, seconds, _ = results[0]
    floor = executemany_floor(os.path.join(folder, "rasa-floor"), ingestion_events(events // 10))
    return [
        ["Import, import-rasa from a SQL tracker store", f"{rows:,} rows → {events:,} events", f"{events / seconds:,.0f} events/s",
         f"executemany: {events / floor:,.0f} events/s", f"{ratio(floor, seconds)} floor", "includes starting the command"],
        ["Peak RSS, import-rasa", ", ".join(f"{r:,} rows" for r, *_ in results),
         ", ".join(f"{mb:.0f} MB" for *_, mb in results), "", "flat in the input size", ""],
    ]


def bench_upkeep(folder, dialogs):
    """What the report family's rows cost ingestion: the share of `ingest_events` time
    (in-process, batches of 1,000) spent on the per-dialog slot and step rows and on
    the daily totals."""
    from app import create_app
    from ingest import daily_totals, paths, rules, writer

    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/upkeep.db", "SECRET_KEY": "x" * 40,
                      "QUEUE_URL": f"sqlite:///{folder}/queue.db"}, instance_path=folder)
    spent = collections.Counter()
    patched = [(paths, "refresh_paths"), (writer, "_insert_paths"), (writer, "_extend_paths"), (daily_totals, "contributions"),
               (daily_totals, "apply_change")]
    originals = [getattr(module, name) for module, name in patched]

    def timing(name, function):
        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return timed_call

    with app.app_context():
        from access import api_keys
        from database import migrations

        migrations.upgrade()
        agent, _ = api_keys.create_agent("Upkeep Bot")
        raw = ingestion_events(dialogs)
        batches = [rules.validate_events(raw[i : i + 1000], rules.Limits())[0] for i in range(0, len(raw), 1000)]
        for (module, name), function in zip(patched, originals):
            setattr(module, name, timing(name, function))
        try:
            started = time.perf_counter()
            for batch in batches:
                writer.ingest_events(agent, batch)
            total = time.perf_counter() - started
        finally:
            for (module, name), function in zip(patched, originals):
                setattr(module, name, function)
    path_rows, daily = spent["refresh_paths"] + spent["_insert_paths"] + spent["_extend_paths"], spent["contributions"] + spent["apply_change"]
    return [["Ingestion, cost of the report family's rows", f"{len(raw):,} events",
             f"{(path_rows + daily) / total:.0%} of ingest_events time", "",
             f"slot and step rows {path_rows / total:.0%}, daily totals {daily / total:.0%}",
             f"in-process, {len(raw) / total:,.0f} events/s in all"]]


# 3. Click to email -----------------------------------------------------------------


def bench_click_to_email(folder, dialogs, exports):
    with SmtpSink() as smtp:
        stack = fresh_stack(folder, smtp.port)
        stack.start_web()
        events = ingestion_events(dialogs)
        for i in range(0, len(events), 5000):
            stack.api("POST", "/api/v1/events", stack.key, events[i : i + 5000])
        latencies = click_to_email(stack, smtp, exports)
    median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    return [["Click to email (worker idle)", f"{dialogs:,} dialogs, {exports} exports",
             f"median {median:.2f} s, p95 {p95:.2f} s", "", "target: median < 2 s, p95 < 5 s", ""]]


def click_to_email(stack, smtp, exports):
    """Seconds from clicking Stop slots for the stack's agent (the last 400 days, and
    a day more each time: not a duplicate) to its email, `exports` times; the web
    server and a worker are started (the web server may be already) and stopped."""
    stack.cli("create-user", "bench@example.com", "--password", "bench password 1", "--admin")
    if not stack.processes:
        stack.start_web()
    stack.start_worker()
    try:
        client = Browserless(stack.base_url)
        client.login("bench@example.com", "bench password 1")
        time.sleep(2)  # the worker is idle, polling at its slowest
        latencies = []
        for n in range(exports):
            clicked = time.monotonic()
            client.export([1], days=400 + n)
            smtp.wait_for_messages(n + 1, timeout=60)
            latencies.append(smtp.received_at[n] - clicked)
            time.sleep(1)
        return latencies
    finally:
        stack.stop()


# 4. Analytics page -----------------------------------------------------------------


VIEWS = ("stop-slots", "slot-funnel", "slot-paths")


def bench_analytics(folder, database, requests, clients, population):
    """Each preview of the Analytics page for the big agent over 90 days, served by
    gunicorn as the container runs it, with `clients` loading it at once."""
    urls = [(view, f"/analytics?agents=1&date_from={FULL.date_from}&date_to={FULL.date_to}&view={view}") for view in VIEWS]
    return [
        [f"Analytics page, {kinds.KINDS[view].LABEL} preview (90 days)",
         f"{population:,} dialogs; {requests} requests, {clients} clients",
         f"median {statistics.median(times) * 1000:.0f} ms, p95 {percentile(times, 0.95) * 1000:.0f} ms", "",
         "target: p95 < 300 ms", "gunicorn as in the container"]
        for view, times in served_pages(folder, database, urls, requests, clients).items()
    ]


def served_pages(folder, database, urls, requests, clients):
    """{name: each request's seconds} for each (name, url), served by gunicorn on the
    big agent's database as the container runs it, `clients` loading the page at once."""
    timings = {}
    with SmtpSink() as smtp:
        stack = Stack(folder, smtp.port)
        stack.database = database
        stack.env["FLASK_DATABASE_URL"] = f"sqlite:///{database}"
        stack.start_gunicorn()
        try:
            browsers = [Browserless(stack.base_url) for _ in range(clients)]
            for b in browsers:
                b.login("pages@example.com", "bench password 1")
            for name, url in urls:
                def load(i):
                    started = time.perf_counter()
                    status, body, _ = browsers[i % clients].get(url)
                    assert status == 200 and b"Big Bot" in body and b"Fix the filters" not in body, (url, status)
                    return time.perf_counter() - started

                with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                    timings[name] = list(pool.map(load, range(requests)))
        finally:
            stack.stop()
    return timings


# 5. Dialog lists -------------------------------------------------------------------


def captured_statements(function):
    """Run `function()` and return what it returned and the SQL statements it sent
    (parameters written in), with the BEGIN and COMMIT of its transactions, to give
    the same statements to the sqlite3 CLI."""
    from database import db

    statements, execute, begin, commit = [], db.obj.execute_sql, db.obj.begin, db.obj.commit

    def recording(sql, params=None, *args, **kwargs):
        statements.append(sql_literal(sql, params or ()))
        return execute(sql, params, *args, **kwargs)

    def beginning(lock_type=None):
        statements.append(f"BEGIN {lock_type or db.obj._lock_type or ''}".strip())  # IMMEDIATE, as open_database has it
        return begin(lock_type)

    def committing():
        statements.append("COMMIT")
        return commit()

    db.obj.execute_sql, db.obj.begin, db.obj.commit = recording, beginning, committing
    try:
        return function(), statements
    finally:
        db.obj.execute_sql, db.obj.begin, db.obj.commit = execute, begin, commit


def sql_literal(sql, params):
    """`sql` with its `?` parameters written in as SQLite reads them."""
    def literal(value):
        if isinstance(value, bool):
            return str(int(value))
        if isinstance(value, (int, float)):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    parts = sql.split("?")  # peewee passes every value as a parameter: no "?" of a literal here
    assert len(parts) == len(params) + 1, sql
    return parts[0] + "".join(literal(param) + part for param, part in zip(params, parts[1:]))


def sqlite_cli_time(database, statements, setup=()):
    """Median over REPEATS of the sqlite3 CLI's own time for running these
    statements, after the `setup` statements (not timed)."""
    untimed = "".join(f"{statement};\n" for statement in setup)
    script = untimed + ".timer on\n" + "".join(f"{statement};\n" for statement in statements)
    runs = []
    for _ in range(REPEATS):
        output = subprocess.run(["sqlite3", database], input=script, capture_output=True, text=True, check=True).stdout
        runs.append(sum(float(t) for t in re.findall(r"Run Time: real ([\d.]+)", output)))
    return statistics.median(runs)


def models_on(app):
    """Point the models at the app's database: the sections before may have pointed them at databases of their own."""
    database_module.db.initialize(database_module.open_database(app.config["DATABASE_URL"]))


def list_selectors(database):
    """Selectors for the big agent as its previews link them: its commonest stop slot,
    a slot reached by about a tenth of dialogs, its commonest step, "named no slot", and none."""
    with sqlite3.connect(database) as db:
        stop = db.execute("SELECT s.key FROM dialog d JOIN slot s ON s.id = d.stop_slot_id WHERE d.agent_id = 1 "
                          "AND d.is_counted GROUP BY s.key ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        reached = db.execute("SELECT s.key FROM daily_reach r JOIN slot s ON s.id = r.slot_id WHERE r.agent_id = 1 "
                             "GROUP BY s.key ORDER BY abs(sum(r.reached) - 90000) LIMIT 1").fetchone()[0]
        step = db.execute("SELECT a.key, b.key FROM daily_step t JOIN slot a ON a.id = t.from_slot "
                          "JOIN slot b ON b.id = t.to_slot WHERE t.agent_id = 1 GROUP BY a.key, b.key "
                          "ORDER BY sum(t.dialogs) DESC LIMIT 1").fetchone()
    return [
        (f"stopped at {stop}", {"stop_slot": stop}),
        (f"reached {reached}", {"reached": reached}),
        (f"step {step[0]} → {step[1]}", {"from_slot": step[0], "to_slot": step[1]}),
        ("named no slot", {"stop_slot": "(none)"}),
        ("all counted dialogs", {}),
    ]


def bench_dialog_lists(database, app, folder, requests, clients):
    """The first page of each selector's list and a transcript, for the big agent over
    90 days: in-process against the same statements in the sqlite3 CLI, then as pages
    served by gunicorn to `clients` at once."""
    from models import Dialog
    from reporting import dialog_lists, transcripts

    rows, urls = [], []
    base = f"/dialogs?agents=1&date_from={FULL.date_from}&date_to={FULL.date_to}"
    models_on(app)
    with app.app_context():
        for words, args in list_selectors(database):
            selector = dialog_lists.Selector(**args)
            (page, statements) = captured_statements(lambda: dialog_lists.dialog_page(FULL, "UTC", selector))
            took, _ = timed(lambda: dialog_lists.dialog_page(FULL, "UTC", selector))
            floor = sqlite_cli_time(database, statements)
            rows.append([f"Dialog list, first page: {words}", f"{page.total:,} dialogs", f"{took * 1000:.0f} ms",
                         f"sqlite3 CLI, the same {len(statements)} statements: {floor * 1000:.0f} ms",
                         f"{ratio(took, floor)} floor (target ≤ 3×)", "total and 50 rows"])
            urls.append((words, base + "".join(f"&{k}={v}" for k, v in args.items())))
        dialog = Dialog.select().where(Dialog.agent == 1).order_by(Dialog.id.desc()).get()
        lines, statements = captured_statements(lambda: transcripts.lines(dialog.id))
        took, _ = timed(lambda: transcripts.lines(dialog.id))
        floor = sqlite_cli_time(database, statements)
        rows.append(["Transcript", f"{len(lines)} events", f"{took * 1000:.1f} ms",
                     f"sqlite3 CLI, the same statement: {floor * 1000:.1f} ms", f"{ratio(took, floor)} floor (target ≤ 3×)", ""])
        urls.append(("a transcript", f"/dialogs/{dialog.id}"))
    return rows + [
        [f"Dialogs page, {words}", f"{requests} requests, {clients} clients",
         f"median {statistics.median(times) * 1000:.0f} ms, p95 {percentile(times, 0.95) * 1000:.0f} ms", "",
         "target: p95 < 300 ms", "gunicorn as in the container"]
        for words, times in served_pages(folder, database, urls, requests, clients).items()
    ]


SAYINGS = [  # what made-up people type, with the kinds of data masking looks for (and dates and prices it keeps)
    "Hi, I'd like to change my booking for 12.03.2026, please",
    "My number is +7 (912) 345-67-89",
    "You can write to alex.example@example.com",
    "Order 1234567, it was 12 990.50",
    "Card 4111 1111 1111 1111, expires 04/28",
    "Thanks, that's all!",
]


def realistic(events):
    """The events (`ingestion_events`, `live_events`) with the users' lines taken from SAYINGS."""
    for n, e in enumerate(events):
        if e["sender"] == "user":
            e["text"] = SAYINGS[n % len(SAYINGS)]
    return events


COSTS_RULES = [  # for `ingestion_events` and `live_events`, whose dialogs each name 5 of the slots s0 … s119
    {"outcome": "Escalated", "reaches_type": "handover"},
    {"outcome": "Completed", "ends_at": ["s30", "s90"]},
    {"outcome": "Failed", "shows": "s45", "times": 2},
]
COSTS_SLOT_TYPES = {f"s{n}": "handover" if n in (59, 119) else "message" for n in range(120)}  # 1 dialog in 12 names a handover


def bench_ingestion_costs(folder, dialogs):
    """What masking, `secure_delete`, the dialog lists' indexes and an agent's outcome
    rules cost ingestion: the same events through `ingest_events` (in-process,
    batches of 1,000) into a fresh database with each and into one without,
    alternated (with, without, without, with), after a run that warms the process up.
    The outcome rules also with live traffic, whose batches touch ten times the dialogs."""
    from app import create_app
    from database import SQLITE_PRAGMAS, db, migrations
    from ingest import rules, writer
    from models import Dialog
    from outcomes import evaluation, recompute
    from outcomes import rules as outcome_rules

    def batches_of(events):
        return [rules.validate_events(events[i : i + 1000], rules.Limits())[0] for i in range(0, len(events), 1000)]

    history, live = batches_of(realistic(ingestion_events(dialogs))), batches_of(realistic(live_events(dialogs)))

    def ingest(name, batches=history, masking=True, secure_delete=1, list_indexes=True, with_rules=()):
        path = os.path.join(folder, name)
        os.makedirs(path, exist_ok=True)
        shipped = SQLITE_PRAGMAS["secure_delete"]
        SQLITE_PRAGMAS["secure_delete"] = secure_delete
        try:
            app = create_app({"DATABASE_URL": f"sqlite:///{path}/costs.db", "SECRET_KEY": "x" * 40,
                              "QUEUE_URL": f"sqlite:///{path}/queue.db"}, instance_path=path)
            with app.app_context():
                from access import api_keys
                from database.migrations.v20_index_dialog_lists_and_add_export_selectors import LIST_INDEXES

                migrations.upgrade()
                if not list_indexes:
                    for table, columns in LIST_INDEXES.items():
                        (index,) = [i.name for i in db.get_indexes(table) if tuple(i.columns) == columns]
                        db.execute_sql(f'DROP INDEX "{index}"')
                agent, _ = api_keys.create_agent("Costs Bot")
                agent.mask_personal_data = masking
                writer.upsert_slots(agent, [rules.SlotIn(key, key, slot_type, "") for key, slot_type in COSTS_SLOT_TYPES.items()])
                if with_rules:
                    recompute.save(agent, outcome_rules.check(with_rules, evaluation.slot_types(agent)))
                started = time.perf_counter()
                for batch in batches:
                    writer.ingest_events(agent, batch)
                took = time.perf_counter() - started
                assert Dialog.select().where(Dialog.outcome.is_null(False)).exists() == bool(with_rules), name
                return took
        finally:
            SQLITE_PRAGMAS["secure_delete"] = shipped

    n = sum(len(batch) for batch in history)
    ingest("warm-up")  # the first database of a process pays for warming up: no variant's cost
    rows = []
    for what, with_it, without in (("masking personal data", {}, dict(masking=False)),
                                   ("SQLite secure_delete", {}, dict(secure_delete=0)),
                                   ("the dialog lists' indexes", {}, dict(list_indexes=False)),
                                   ("3 outcome rules", dict(with_rules=COSTS_RULES), {}),
                                   ("3 outcome rules, live traffic", dict(with_rules=COSTS_RULES, batches=live), dict(batches=live))):
        # with, without, without, with: a drift of the machine's speed weighs on both alike
        name = what.split()[-1]
        took_with = ingest(f"{name}-with-1", **with_it)
        took = ingest(f"{name}-without-1", **without) + ingest(f"{name}-without-2", **without)
        took_with += ingest(f"{name}-with-2", **with_it)
        rows.append([f"Ingestion, cost of {what}", f"{n:,} events", f"{2 * n / took_with:,.0f} events/s with it",
                     f"{2 * n / took:,.0f} events/s without", f"{took_with / took - 1:+.0%} time",
                     "in-process ingest_events, batches of 1,000, runs alternated; users' texts with phone numbers, e-mails, cards"])
    return rows


def app_on_a_copy(folder, database, name):
    """(path, app) of a copy of the big database named `name` in `folder`, for a
    section that changes what the others read."""
    from app import create_app

    os.makedirs(folder, exist_ok=True)
    copy = os.path.join(folder, name)
    with sqlite3.connect(database) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    app = create_app({"DATABASE_URL": f"sqlite:///{copy}", "SECRET_KEY": "x" * 40,
                      "QUEUE_URL": f"sqlite:///{folder}/queue.db"}, instance_path=folder)
    return copy, app


def bench_purge(folder, database):
    """`purge-texts` removing the texts of every dialog of the big database (a copy):
    dialogs and events a second, `secure_delete` and the final checkpoint included."""
    from models import Dialog, Event
    from privacy import retention

    _, app = app_on_a_copy(folder, database, "purge.db")
    with app.app_context():
        events = Event.select().where(Event.text.is_null(False) & (Event.text != "")).count()
        started = time.perf_counter()
        dialogs = retention.purge_texts(1, now=datetime(2100, 1, 1))
        took = time.perf_counter() - started
        assert Event.select().where(Event.text != "").count() == 0 and Dialog.select().count() == dialogs
    return [["Purge of expired texts (purge-texts), every dialog", f"{dialogs:,} dialogs, {events:,} texts",
             f"{dialogs / took:,.0f} dialogs/s, {events / took:,.0f} texts/s ({took:.0f} s)", "", "",
             "500 dialogs a transaction, secure_delete, TRUNCATE checkpoint at the end"]]


# 6. Outcomes -----------------------------------------------------------------------


BIG_AGENT_RULES = [  # the big agent's: its handover slot, the two slots where its script ends well, a question asked again
    {"outcome": "Escalated", "reaches_type": "handover"},
    {"outcome": "Completed", "ends_at": ["s007", "s008"]},
    {"outcome": "Failed", "shows": "s002", "times": 2},
]
LOST = ("abandoned", "failed")  # the Outcomes filter of the previews: the dialogs that did not end well


def outcomes_database(folder, database):
    """A copy of the big database (the other sections read the big agent without
    rules) whose big agent has BIG_AGENT_RULES, every dialog recomputed for them,
    and an app on it."""
    from models import Agent
    from outcomes import evaluation, recompute, rules

    copy, app = app_on_a_copy(folder, database, "outcomes.db")
    with app.app_context():
        agent = Agent.get_by_id(1)
        recompute.recompute(agent.id, recompute.save(agent, rules.check(BIG_AGENT_RULES, evaluation.slot_types(agent))))
    return copy, app


def connection_as_slotlens():
    """The PRAGMAs with which Slotlens opens SQLite (synchronous, a 64 MiB cache, secure_delete), for a floor's connection."""
    return [f"PRAGMA {name} = {value}" for name, value in database_module.SQLITE_PRAGMAS.items()]


def bench_outcome_recompute(database, app):
    """Saving the big agent's rules and recomputing every dialog for them, as the
    worker does (`outcomes.recompute`: a transaction per 5,000 dialogs), against the
    same statements in the same transactions in the sqlite3 CLI, and, in the notes,
    against one UPDATE of all the agent's dialogs."""
    from models import Agent, Dialog
    from outcomes import evaluation, recompute

    models_on(app)
    with app.app_context():
        agent = Agent.get_by_id(1)
        rules = evaluation.stored_rules(agent.id)
        dialogs = Dialog.select().where(Dialog.agent == agent.id).count()
        everything = Dialog.update(outcome=evaluation.outcome_case(agent.id, rules)).where(Dialog.agent == agent.id)
        one_update = ["BEGIN IMMEDIATE", sql_literal(*everything.sql()), "COMMIT"]

        def run():
            recompute.recompute(agent.id, recompute.save(agent, rules))

        took, _ = timed(run)
        version = Agent.get_by_id(agent.id).outcome_rules_version
        _, statements = captured_statements(run)
    # each run of the CLI starts from the version the captured run started from, so that its statements find the same rows
    rewound = f"UPDATE agent SET outcome_rules_version = {version} WHERE id = {agent.id}"
    floor = sqlite_cli_time(database, statements, [*connection_as_slotlens(), rewound])
    single = sqlite_cli_time(database, one_update, connection_as_slotlens())
    transactions = statements.count("COMMIT") - 1  # the first saves the rules
    return [[f"Outcomes, saving {len(rules)} rules and recomputing every dialog of an agent", f"{dialogs:,} dialogs",
             f"{took:.1f} s ({dialogs / took:,.0f} dialogs/s)",
             f"sqlite3 CLI, the same {len(statements):,} statements ({transactions} transactions): {floor:.1f} s",
             f"{ratio(took, floor)} floor (target ≤ 3×)",
             f"one UPDATE of all its dialogs in the CLI: {single:.1f} s (Slotlens {ratio(took, single)} of it)"]]


def bench_outcomes_report(database, app):
    """The Outcomes report, and the Stop slots and Slot funnel previews of the big
    agent with its rules, without an Outcomes filter and with one (the dialogs that
    did not end well), against the same statements in the sqlite3 CLI."""
    from blueprints import analytics
    from reporting.kinds import outcomes

    lost = dataclasses.replace(FULL, outcomes=LOST)
    views = [
        ("Outcomes report build, full period (90 days)", lambda: outcomes.build(1, FULL, "UTC")[1], "rows only, read from the dialogs"),
        ("Outcomes report build, one week", lambda: outcomes.build(1, WEEK, "UTC")[1], "rows only, read from the dialogs"),
        ("Stop slots preview of an agent with rules (90 days)", lambda: analytics.preview(FULL)[0]["total"],
         "in-process: the bars, their outcome segments, the headline rates"),
        ("Slot funnel preview of an agent with rules (90 days)", lambda: analytics.funnel_preview(FULL)[0]["total"],
         "in-process: the funnel, its stops by outcome, the headline rates"),
        ("Stop slots preview, Outcomes: Abandoned, Failed (90 days)", lambda: analytics.preview(lost)[0]["total"],
         "in-process: the bars, their outcome segments, the headline rates"),
        ("Slot funnel preview, Outcomes: Abandoned, Failed (90 days)", lambda: analytics.funnel_preview(lost)[0]["total"],
         "in-process: the funnel, its stops by outcome, the headline rates"),
    ]
    rows = []
    models_on(app)
    with app.app_context():
        for what, view, note in views:
            dialogs, statements = captured_statements(view)
            took, _ = timed(view)
            floor = sqlite_cli_time(database, statements, connection_as_slotlens())
            same = "the same statement" if len(statements) == 1 else f"the same {len(statements)} statements"
            rows.append([what, f"{dialogs:,} dialogs", f"{took * 1000:.0f} ms", f"sqlite3 CLI, {same}: {floor * 1000:.0f} ms",
                         f"{ratio(took, floor)} floor (target ≤ 3×)", note])
    return rows


# 7. Memory -------------------------------------------------------------------------


def peak_rss_mb(command, env):
    """Peak memory of a command with the processes it starts (an import's reader):
    the larger of GNU time's report of the command's resident memory and the sampled
    sum over its process tree (`devtools.memory`)."""
    process = subprocess.Popen(["/usr/bin/time", "-f", "%M", *command], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    with PeakTreeMemory(process.pid) as tree:
        output, errors = process.communicate()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, output, errors)
    return max(int(errors.strip().splitlines()[-1]) / 1024, tree.peak)


def bench_memory(folder, database):
    env = {**os.environ, "FLASK_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijkl",
           "FLASK_DATABASE_URL": f"sqlite:///{database}", "FLASK_QUEUE_URL": f"sqlite:///{folder}/q.db"}
    build = [sys.executable, "-m", "bench.build_one"]
    report = {agent: peak_rss_mb([*build, str(agent)], env) for agent in (3, 2, 1)}
    return [
        ["Peak RSS, worker building a report", "agents of 1%, 10%, 100% size",
         ", ".join(f"{mb:.0f} MB" for mb in report.values()), "", "flat in the input size", ""],
    ]


def bench_import_at_scale(folder, sizes):
    """import-events of a history file at each size: its speed against executemany
    of the same rows at that size, and its peak memory, which must not grow with it."""
    os.makedirs(folder, exist_ok=True)
    rows = []
    for size in sizes:
        path = os.path.join(folder, f"history-{size}.jsonl")
        histories.write_jsonl(path, iter_ingestion_events(size // 10))
        imported, rss = import_events_measured(fresh_stack(os.path.join(folder, f"history-{size}"), free_port()), path)
        os.remove(path)
        floor = executemany_floor(os.path.join(folder, f"floor-{size}"), ingestion_events(size // 10))
        rows.append(["Ingestion, import-events of a history file", f"{size:,} events", f"{size / imported:,.0f} events/s",
                     f"executemany: {size / floor:,.0f} events/s", f"{ratio(floor, imported)} events-only floor",
                     f"peak memory {rss:.0f} MB (target ≤ 200 MB, flat in the size); includes starting the command"])
        shutil.rmtree(os.path.join(folder, f"history-{size}"))
        shutil.rmtree(os.path.join(folder, f"floor-{size}"))
    return rows


# ---------------------------------------------------------------------------------


def machine():
    cpu = "?"
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogs", type=int, default=1_000_000, help="dialogs of the big agent")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; checks the benchmark still runs")
    parser.add_argument("--only", action="append", metavar="SECTION",
                        help="run only this section (repeatable); the results are printed, not written")
    args = parser.parse_args()
    if shutil.which("sqlite3") is None:
        sys.exit("The floor needs the sqlite3 command line tool: apt-get install sqlite3")
    smoke = args.smoke
    dialogs = 2_000 if smoke else args.dialogs
    sizes = dict(ingest=200 if smoke else 20_000, email_dialogs=100 if smoke else 10_000, exports=2 if smoke else 20,
                 page_requests=16 if smoke else 200, history=(1_000, 4_000) if smoke else (1_000_000, 10_000_000),
                 rasa=(2_000, 4_000) if smoke else (1_000_000, 2_000_000), history_dialogs=200 if smoke else 200_000)
    work = tempfile.mkdtemp(prefix="slotlens-bench-")
    data = os.path.join(work, "data") if smoke else os.path.join(HERE, "data")
    print(f"Slotlens benchmark — {machine()}", flush=True)

    @functools.cache
    def big():
        """The big agent's database (generated on first use), an app on it, and its 90-day population."""
        from app import create_app

        database = generate.ensure_database(data, dialogs)
        app = create_app({"DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "x" * 40,
                          "QUEUE_URL": f"sqlite:///{work}/queue.db"}, instance_path=work)
        with app.app_context():
            import models
            from access import passwords

            if not models.Account.select().where(models.Account.email == "pages@example.com").exists():
                account = models.Account(email="pages@example.com", is_admin=True)
                passwords.assign(account, "bench password 1")
                account.save()
            bounds = periods.period_bounds(FULL.date_from, FULL.date_to, "UTC")
            population = models.Dialog.select().where(in_range(models.Dialog, 1, (), *bounds)).count()
        return database, app, population

    @functools.cache
    def with_rules():
        """A copy of the big agent's database with its outcome rules, and an app on it."""
        return outcomes_database(os.path.join(work, "outcomes"), big()[0])

    sections = {
        "report build": lambda: bench_report(*big()[:2]),
        "report family": lambda: bench_report_family(*big()[:2]),
        "ingestion": lambda: bench_ingestion(os.path.join(work, "ingest"), sizes["ingest"]),
        "ingestion upkeep": lambda: bench_upkeep(os.path.join(work, "upkeep"), sizes["ingest"]),
        "import from Rasa": lambda: bench_rasa_import(work, sizes["rasa"]),
        "click to email": lambda: bench_click_to_email(os.path.join(work, "email"), sizes["email_dialogs"], sizes["exports"]),
        "analytics page": lambda: bench_analytics(os.path.join(work, "pages"), big()[0], sizes["page_requests"], 8, big()[2]),
        "dialog lists": lambda: bench_dialog_lists(big()[0], big()[1], os.path.join(work, "lists"), sizes["page_requests"], 8),
        "ingestion costs": lambda: bench_ingestion_costs(os.path.join(work, "costs"), sizes["ingest"]),
        "purge": lambda: bench_purge(os.path.join(work, "purge"), big()[0]),
        "outcome recompute": lambda: bench_outcome_recompute(*with_rules()),
        "outcomes report": lambda: bench_outcomes_report(*with_rules()),
        "memory": lambda: bench_memory(work, big()[0]),
        "import at scale": lambda: bench_import_at_scale(os.path.join(work, "history"), sizes["history"]),
        "schema floor": lambda: bench_schema_floor(os.path.join(work, "schema-floor"), sizes["history_dialogs"]),
        "import profile": lambda: bench_import_profile(os.path.join(work, "import-profile"), sizes["history_dialogs"] // 4),
    }
    unknown = set(args.only or ()) - set(sections)
    if unknown:
        sys.exit(f"unknown section(s) {sorted(unknown)}; the sections are: {', '.join(sections)}")
    rows = []
    for title, run in sections.items():
        if args.only and title not in args.only:
            continue
        print(f"- {title} …", flush=True)
        for row in run():
            rows.append(row)
            print("  " + " | ".join(cell for cell in row if cell), flush=True)
    if not smoke and not args.only:
        write_results(rows, dialogs)
    shutil.rmtree(work, ignore_errors=True)


def write_results(rows, dialogs):
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` on {date.today()}, {machine()}.",
        f"Big agent: {dialogs:,} dialogs, about {dialogs * 10:,} events, 200 slots, 90 days.",
        "Ratios compare with a floor measured in the same run; absolute times vary with the machine's load.",
        "",
        "| what | size | Slotlens | floor | ratio / target | notes |",
        "|---|---|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in rows],
        "",
    ]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))
    print("Wrote bench/RESULTS.md")


if __name__ == "__main__":
    main()
