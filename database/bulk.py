"""Bulk statements of the ingestion path: many rows in as few round trips as the
backend allows, through SQL built once.

A statement's rows travel in a literal VALUES list that these helpers write for
the driver: `VALUES %s` for psycopg2's `execute_values`, which pages the rows
into multi-row VALUES itself, and one `(?, ?, …)` per row on SQLite, for
`executemany` or for a chunk of rows at once. The peewee query around that list
(table, columns, ON CONFLICT, RETURNING) is built once per backend and list:
peewee would otherwise build SQL for every value, which takes longer than SQLite
takes to insert a few hundred rows.
"""
import contextlib
import csv
import io
import json

from peewee import SQL, PostgresqlDatabase, Value, fn
from psycopg2.extras import execute_batch, execute_values

from database import db

CHUNK = 500  # ids per IN list or UPDATE, well under every backend's parameter limit
PAGED_VALUES = "VALUES %s"  # psycopg2's execute_values fills it with a page of rows
LOCKS = {"channels": 1, "schema": 2, "account": 3, "outcomes": 4, "admins": 5}  # advisory lock namespaces (`hold_lock`)


def chunks(rows, size=CHUNK):
    """`rows` in lists of at most `size`."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def sqlite_values(width, count=1):
    """A literal VALUES list of `count` rows of `width` placeholders each."""
    row = "(" + ", ".join(["?"] * width) + ")"
    return "VALUES " + ", ".join([row] * count)


class Statement:
    """A statement the ingestion path runs for every batch, its SQL built once per
    backend. `build(*lists)` returns the peewee query: an INSERT takes its rows as
    one literal VALUES list (`Model.insert_from(values, fields)`, the columns in the
    order of `fields`), which `insert_rows` writes for the driver; an UPDATE run by
    `update_rows` takes none."""

    def __init__(self, build):
        self.build = build
        self.built = {}

    def sql(self, *lists):
        key = (type(db.obj), *lists)
        if key not in self.built:
            self.built[key] = self.build(*(SQL(values) for values in lists)).sql()[0]
        return self.built[key]


def among(field, values):
    """`field IN values` with the values as one parameter (a JSON array that SQLite
    unpacks, an array on PostgreSQL): peewee builds an IN list value by value, which
    takes longer than running the query for a thousand ids."""
    values = list(values)
    if isinstance(db.obj, PostgresqlDatabase):
        return field == fn.ANY(Value(values, converter=list, unpack=False))
    return field.in_(SQL("(SELECT value FROM json_each(?))", [json.dumps(values)]))


def insert_rows(statement, rows):
    """Run an INSERT `Statement` for every row of `rows` (tuples of its columns'
    values) in as few round trips as the backend allows; returns the number of rows
    it inserted or updated.

    psycopg2's executemany makes one round trip per row; so on PostgreSQL the rows
    go as one multi-row VALUES (`execute_values`), in their order.
    """
    if not rows:
        return 0
    cursor = db.cursor()
    if isinstance(db.obj, PostgresqlDatabase):
        execute_values(cursor, statement.sql(PAGED_VALUES), rows, page_size=len(rows))
    else:
        cursor.executemany(statement.sql(sqlite_values(len(rows[0]))), rows)
    return cursor.rowcount


@contextlib.contextmanager
def checkpoints_spaced(pages=20_000):
    """On SQLite, let the write-ahead log hold `pages` pages (80 MB) before they are
    copied back into the database, for the length of a long import, then SQLite's
    own setting again. Each copy writes every page the transactions since the last
    one changed, and an import changes the same index pages in transaction after
    transaction: at SQLite's 1,000 pages, copying took a sixth of `import-events`."""
    if isinstance(db.obj, PostgresqlDatabase):
        yield
        return
    (before,) = db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()
    db.execute_sql(f"PRAGMA wal_autocheckpoint = {int(pages)}")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA wal_autocheckpoint = {int(before)}")


def hold_lock(namespace, key, shared=False):
    """Hold a PostgreSQL advisory lock on (namespace, key) until the transaction
    ends, for writers that must not check and act at the same time (a cap, the
    schema); `shared` holders exclude only the others. SQLite needs nothing:
    `BEGIN IMMEDIATE` already serialises its writers."""
    if isinstance(db.obj, PostgresqlDatabase):
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        db.execute_sql(f"SELECT {function}(%s, %s)", (LOCKS[namespace], key))


def update_rows(statement, rows):
    """Run a one-row UPDATE `Statement` for every row of values (its SET values, then
    its WHERE values): executemany on SQLite, psycopg2's pages of statements on PostgreSQL."""
    if not rows:
        return
    if isinstance(db.obj, PostgresqlDatabase):
        execute_batch(db.cursor(), statement.sql(), rows, page_size=CHUNK)
    else:
        db.cursor().executemany(statement.sql(), rows)


def append_rows(fields, rows):
    """Insert rows (tuples of values for `fields`, all of one model) that no unique
    index can refuse, such as a new dialog's path rows: executemany on SQLite, and
    on PostgreSQL its bulk path, COPY, several times faster than any INSERT.

    COPY reads CSV here, where an empty unquoted value is NULL, and csv.writer writes
    both None and an empty text so: rows holding an empty text are inserted instead,
    all of them in their order (their ids order a dialog's events of one instant).
    """
    if not isinstance(db.obj, PostgresqlDatabase) or any("" in row for row in rows):
        return insert_rows(_inserting(fields), rows)
    table = fields[0].model._meta.table_name
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    buffer.seek(0)
    columns = ", ".join(field.column_name for field in fields)
    db.cursor().copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
    return len(rows)


_INSERTS = {}  # (table, *columns) -> Statement; keyed by names, as peewee fields compare into expressions


def _inserting(fields):
    """The INSERT `Statement` of these fields (all of one model), made once."""
    key = (fields[0].model._meta.table_name, *(field.column_name for field in fields))
    if key not in _INSERTS:
        _INSERTS[key] = Statement(lambda values: fields[0].model.insert_from(values, fields))
    return _INSERTS[key]


def insert_rows_returning(statement, rows):
    """`insert_rows` for a `Statement` with a RETURNING clause: the returned tuples
    of the rows it inserted (rows skipped by ON CONFLICT DO NOTHING are not
    returned), in chunks of multi-row VALUES on both backends."""
    cursor = db.cursor()
    if isinstance(db.obj, PostgresqlDatabase):
        return execute_values(cursor, statement.sql(PAGED_VALUES), rows, page_size=CHUNK, fetch=True)
    returned = []
    for part in chunks(rows):
        many = statement.sql(sqlite_values(len(part[0]), len(part)))
        returned += cursor.execute(many, [value for row in part for value in row])
    return returned
