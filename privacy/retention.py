"""Forgetting the words, keeping the numbers: the texts of events of dialogs that
started more than TRANSCRIPT_DAYS days ago are removed. Counts, reports and paths
read no text, so they do not change; the dialog records that its texts expired.

On SQLite the removed text must not stay in the file: the connection runs with
`secure_delete` (database.SQLITE_PRAGMAS), which overwrites freed content with
zeros, and the purge ends with a checkpoint that empties the write-ahead log.
"""
import logging
import time
from datetime import timedelta

from peewee import SqliteDatabase

from database import db
from models import Dialog, Event, utcnow

log = logging.getLogger(__name__)

ERASED = "erased"  # Dialog.texts_removed; an expired dialog's says after how many days: "expired:30"
REMOVED = ""  # a removed text; NULL stays "never had one"
BATCH = 500  # dialogs a transaction: a writer waits for one batch at most


def purge_texts(days, now=None, batch=BATCH):
    """Remove the texts of dialogs that started more than `days` days before `now`,
    `batch` dialogs a transaction. Returns how many dialogs were purged."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    purged = 0
    while True:
        with db.atomic():
            ids = [dialog_id for (dialog_id,) in Dialog.select(Dialog.id)
                   .where((Dialog.started_at < cutoff) & Dialog.texts_removed.is_null())
                   .order_by(Dialog.started_at).limit(batch).tuples()]
            if not ids:
                break
            Event.update(text=REMOVED).where(Event.dialog.in_(ids) & Event.text.is_null(False)).execute()
            Dialog.update(texts_removed=f"expired:{days}").where(Dialog.id.in_(ids)).execute()
        purged += len(ids)
    if purged:
        empty_the_log()
    return purged


def empty_the_log(attempts=5):
    """Copy the write-ahead log into the database file and truncate it, so the pages
    that still held removed texts are gone from the log too (SQLite only). A reader
    in the middle of a long query can hold it up: tried again, then left to the next
    purge with a warning. Returns whether the log is empty."""
    if not isinstance(db.obj, SqliteDatabase):
        return True
    for _ in range(attempts):
        busy, _, _ = db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return True
        time.sleep(1)
    log.warning("the write-ahead log could not be emptied after a purge or erasure (readers kept it busy); "
                "the next purge tries again")
    return False
