"""The database connection every table shares: opening it with each backend's
settings, a thread's use of it, and which of its errors are worth retrying.

The tables are in models.py, the bulk statements of the ingestion path in
`database.bulk`, the schema's versions in `database.migrations`.
"""
import sqlite3
from contextlib import contextmanager

import psycopg2
from peewee import DatabaseProxy
from playhouse.db_url import connect

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "cache_size": -64 * 1024,  # 64 MiB
    "secure_delete": 1,  # freed content is zeroed: a removed or erased text does not stay in the file
}
SQLITE_BUSY_TIMEOUT = 15  # seconds a writer waits for another writer


def open_database(url):
    """Connect to `url` (a playhouse.db_url URL) with the settings each backend needs."""
    if url.startswith("sqlite:"):
        # IMMEDIATE: a write transaction takes the write lock when it begins, so two
        # writers queue on the busy timeout instead of failing with "database is locked".
        return connect(url, pragmas=SQLITE_PRAGMAS, timeout=SQLITE_BUSY_TIMEOUT, lock_type="IMMEDIATE")
    return connect(url)


SERVER_ANSWERED = "FATAL:"  # libpq's prefix for the server's refusal of a connection
SERVER_NOT_NOW = ("starting up", "shutting down", "in recovery mode", "too many clients", "connection slots")
SQLITE_BUSY_OR_LOCKED = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED (primary result codes)
TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "53300",  # too_many_connections
    "57P01",  # admin_shutdown: pg_terminate_backend, a server restart
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: the server is starting
}


def is_transient(error):
    """Whether trying again may succeed: the connection was refused or lost, the
    database was busy or locked, or a transaction lost a serialization conflict or
    deadlock. Anything else (a programming error, a constraint, a missing column)
    fails the same way every time, so retrying it only hides it.

    Decided by the driver's codes (SQLite result codes, PostgreSQL SQLSTATE); peewee
    keeps the driver's exception as `orig` (of `orig`, when it wrapped a failed
    connect in a failed query). psycopg2 gives a failed connect no SQLSTATE, so there
    libpq's message tells whether the server answered: a server that refused the
    login (no such database or role, a wrong password) refuses it every time.
    """
    cause = error
    while getattr(cause, "orig", None) is not None:
        cause = cause.orig
    if isinstance(cause, sqlite3.Error):
        return (getattr(cause, "sqlite_errorcode", 0) & 0xFF) in SQLITE_BUSY_OR_LOCKED
    if isinstance(cause, psycopg2.Error):
        if cause.pgcode is None:
            if not isinstance(cause, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                return False
            message = str(cause)
            if SERVER_ANSWERED in message:
                return any(words in message for words in SERVER_NOT_NOW)
            return True  # no answer from the server: refused, closed, timed out
        return cause.pgcode.startswith("08") or cause.pgcode in TRANSIENT_SQLSTATES  # 08: connection exception
    return False


@contextmanager
def connection():
    """Use this thread's connection, opening it (and closing it after) if needed.

    Nested uses share one connection: a task run inline by a request (Huey's
    immediate mode) must not close the connection the request is still using.
    """
    opened = db.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened:
            db.close()


def init_app(app):
    """Bind the models to DATABASE_URL; a request connects at its first query
    (peewee's autoconnect), so a page that needs no data works without the
    database, and the connection is closed when the request ends."""
    db.initialize(open_database(app.config["DATABASE_URL"]))

    @app.teardown_request
    def _close(exc):
        if not db.is_closed():
            db.close()
