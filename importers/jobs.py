"""Admin → Import: an uploaded file waits in IMPORTS_DIR while a worker imports it,
keeping its progress on the job row for the page to show.

A job runs once however many messages name it: the worker that moves it from
queued to running owns it. A worker that dies mid-import leaves it running with
an old `updated_at`; the sweep queues it again, and importing again is safe
(imports are idempotent), so nothing is lost or doubled.
"""
import json
import logging
import os
from datetime import timedelta

from peewee import DatabaseError, InterfaceError

import importers
from importers.csv_log import CsvLog, parse_timezone
from importers.jsonl import JsonLines
from importers.rasa import TrackerFiles
from extensions import huey, in_app_context
from models import ImportJob, is_transient, utcnow

log = logging.getLogger(__name__)

KINDS = {  # kind -> (name, what it is, for the form)
    "events": ("Events, JSON Lines", "one event per line, as POST /api/v1/events takes them"),
    "rasa": ("Rasa tracker JSON", "as GET /conversations/<sender_id>/tracker returns it"),
    "csv": ("CSV log", "with the columns mapped below"),
}
STALLED_AFTER = timedelta(minutes=2)  # a running job whose progress is this old lost its worker


def open_source(kind, path, options, file_name):
    """The importer source for a file uploaded as `file_name`; ImportFailed if it cannot be read."""
    if kind == "events":
        return JsonLines(path)
    if kind == "rasa":
        return TrackerFiles(path, shown_as=file_name)
    return CsvLog(path, options["mapping"], options.get("sender_values"), parse_timezone(options.get("timezone")))


def run(job_id, config):
    """Import the job's file if this worker is the one to start it; then delete the file."""
    claimed = (
        ImportJob.update(state="running", updated_at=utcnow())
        .where((ImportJob.id == job_id) & (ImportJob.state == "queued"))
        .execute()
    )
    if not claimed:
        return
    job = ImportJob.get_by_id(job_id)

    def progress(done, total, outcome):
        ImportJob.update(done=done, total=total, updated_at=utcnow(), **_counts(outcome)).where(ImportJob.id == job.id).execute()

    try:
        source = open_source(job.kind, job.path, json.loads(job.options), job.file_name)
        ImportJob.update(total=source.total).where(ImportJob.id == job.id).execute()
        outcome = importers.write_events(job.agent, source, config, on_progress=progress)
    except importers.ImportFailed as exc:
        _finish(job, "failed", error=f"{exc}. What was imported before this stays; importing the file again skips it.")
    except (DatabaseError, InterfaceError) as exc:
        if is_transient(exc):
            # The job stays running with its file; the sweep runs it again once it counts as stalled.
            log.warning("import job %d: the database could not be reached or was busy; it runs again: %s", job.id, exc)
            return
        _finish(job, "failed", error="A database error stopped the import; the worker's log has the details.")
        raise
    except Exception:
        _finish(job, "failed", error="The import stopped on an unexpected error; the worker's log has the details.")
        raise
    else:
        _finish(job, "done", done=source.total, **_counts(outcome))



@huey.task()
@in_app_context
def run_import(job_id):
    run(job_id, huey.flask_app.config)


def _counts(outcome):
    return dict(imported=outcome.imported, duplicates=outcome.duplicates, skipped=outcome.skipped, reasons=json.dumps(outcome.reasons))


def _finish(job, state, **fields):
    ImportJob.update(state=state, finished_at=utcnow(), updated_at=utcnow(), **fields).where(ImportJob.id == job.id).execute()
    delete_upload(job.path)


def delete_upload(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def stalled():
    """Jobs whose worker died: running without progress for STALLED_AFTER; queued again."""
    old = utcnow() - STALLED_AFTER
    query = ImportJob.select(ImportJob.id).where((ImportJob.state == "running") & (ImportJob.updated_at < old))
    ids = [job_id for (job_id,) in query.tuples()]
    if ids:
        ImportJob.update(state="queued").where(ImportJob.id.in_(ids) & (ImportJob.state == "running")).execute()
    return ids


def waiting(pending_ids):
    """Queued jobs that no queue message names (lost with a queue, or just requeued)."""
    query = ImportJob.select(ImportJob.id).where(ImportJob.state == "queued")
    return [job_id for (job_id,) in query.tuples() if job_id not in pending_ids]
