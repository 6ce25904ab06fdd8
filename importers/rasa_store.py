"""Rasa's SQL tracker store (table `events`, one row per event, its JSON in `data`),
read without writing to it, a page at a time, and incrementally: a run reads the
rows up to the newest one at its start; the next run emits only rows after that
(on PostgreSQL, from a little before: see LATE_COMMIT_ROWS). A store whose newest
row is older than that was recreated: it is read from its first row again.

Rows are read sender by sender, in id order, so that only one session is held in
memory. A sender with new rows is read from its first row, for its session count
and last action, but only the new rows become events, and the earlier rows of a
session the last run held back (`importers.rasa.map_sender`).
"""
import json
import os
from itertools import groupby
from urllib.parse import urlsplit, urlunsplit

from peewee import CharField, DatabaseError, FloatField, InterfaceError, Model, SqliteDatabase, TextField, fn
from playhouse.db_url import connect

from importers import ImportFailed
from importers.rasa import map_sender

SENDERS_PER_PAGE = 500
ROWS_PER_PAGE = 10_000
CONNECT_TIMEOUT = 10  # seconds
# On PostgreSQL ids are handed out at INSERT but become visible at COMMIT, so a row
# may appear after rows with higher ids were read. A run reads this many rows before
# its cursor again; what it already stored is skipped as such.
LATE_COMMIT_ROWS = 10_000


class RasaEvent(Model):
    """A row of the `events` table Rasa's SQLTrackerStore creates."""

    sender_id = CharField()
    type_name = CharField()
    timestamp = FloatField(null=True)
    intent_name = CharField(null=True)
    action_name = CharField(null=True)
    data = TextField(null=True)

    class Meta:
        table_name = "events"


def source_key(url):
    """The URL that names a tracker store in the import cursors: without the password,
    with a SQLite path made absolute (so `./rasa.db` and its full path are one store)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return "sqlite:///" + os.path.abspath(url[len("sqlite:///") :])
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def open_store(url):
    """A read-only connection to the tracker store at `url`."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///") :]
        if not os.path.isfile(path):
            raise ImportFailed(f"No SQLite file at {os.path.abspath(path)}.")
        return SqliteDatabase(f"file:{os.path.abspath(path)}?mode=ro", uri=True)
    if scheme in ("postgres", "postgresql"):
        return connect(url, connect_timeout=CONNECT_TIMEOUT, options="-c default_transaction_read_only=on")
    raise ImportFailed(f"{url!r} is not a tracker store URL: use sqlite:///path/to/rasa.db or postgresql://user@host/database.")


class TrackerStore:
    """The rows of a Rasa SQL tracker store after row `after`; progress in rows."""

    unit = "events"

    def __init__(self, url, after=0):
        self.name = source_key(url)
        self.database = open_store(url)
        self.done = 0
        self.slot_catalogue = {}
        with self._reading():
            self.last = RasaEvent.select(fn.COALESCE(fn.MAX(RasaEvent.id), 0)).scalar()
            # Fewer rows than an earlier run read: the store was recreated (or emptied),
            # and its rows so far are not the ones that run read.
            self.recreated = self.last < after
            after = 0 if self.recreated else after
            self.after = after if isinstance(self.database, SqliteDatabase) else max(0, after - LATE_COMMIT_ROWS)
            self.total = RasaEvent.select().where(self._new()).count()

    def _new(self):
        return (RasaEvent.id > self.after) & (RasaEvent.id <= self.last)

    def _reading(self):
        return _Reading(self)

    def __iter__(self):
        with self._reading():
            for senders in self._sender_pages():
                for sender_id, rows in groupby(self._rows(senders), key=lambda row: row[1]):
                    yield from map_sender(sender_id, self._events(rows), self.slot_catalogue)

    def _events(self, rows):
        for row_id, _, data in rows:
            emit = row_id > self.after
            self.done += emit
            try:
                event = json.loads(data)
            except (TypeError, ValueError, RecursionError):
                event = None  # map_sender says it is not a JSON object
            yield f"row {row_id}", event, emit

    def _sender_pages(self):
        """Senders with new rows, in order, a page at a time."""
        query = RasaEvent.select(RasaEvent.sender_id).where(self._new()).distinct().order_by(RasaEvent.sender_id)
        last = None
        while True:
            page = query if last is None else query.where(RasaEvent.sender_id > last)
            senders = [sender for (sender,) in page.limit(SENDERS_PER_PAGE).tuples()]
            if not senders:
                return
            yield senders
            last = senders[-1]

    def _rows(self, senders):
        """(id, sender_id, data) of every row of these senders up to the run's last row,
        by sender then id, a page at a time after the last row of the page before.

        Plain SQL with placeholders: peewee would build a node for every sender of the
        IN list on every page, a quarter of an import's time."""
        mark = self.database.param
        sql = (
            f"SELECT id, sender_id, data FROM events WHERE sender_id IN ({', '.join([mark] * len(senders))})"
            f" AND id <= {mark} AND (sender_id > {mark} OR (sender_id = {mark} AND id > {mark}))"
            f" ORDER BY sender_id, id LIMIT {ROWS_PER_PAGE}"
        )
        position = ("", 0)
        while True:
            rows = self.database.execute_sql(sql, [*senders, self.last, position[0], *position]).fetchall()
            yield from rows
            if len(rows) < ROWS_PER_PAGE:
                return
            position = rows[-1][1], rows[-1][0]


class _Reading:
    """Bind RasaEvent to the store, and say in words why it cannot be read."""

    def __init__(self, store):
        self.store = store
        self.binding = store.database.bind_ctx([RasaEvent])

    def __enter__(self):
        self.binding.__enter__()

    def __exit__(self, kind, exc, traceback):
        self.binding.__exit__(kind, exc, traceback)
        if isinstance(exc, (DatabaseError, InterfaceError)):
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "events" in reason and ("no such table" in reason or "does not exist" in reason):
                reason = "it has no `events` table; is this Rasa's SQL tracker store?"
            raise ImportFailed(f"Could not read the Rasa tracker store at {self.store.name}: {reason}") from None
