"""Admin → Import: an uploaded file waits in IMPORTS_DIR while a worker imports it,
keeping its progress on the job row for the page to show.

A job has the export items' discipline (`claims.Lifecycle`): a worker claims it,
renews its lease in the background while alive, and records progress (every
1,000 items read) and the outcome with its claim token. A worker that dies stops
renewing; one lease (IMPORT_LEASE) later the sweep queues the job again, and
importing again is safe (imports are idempotent). A slow but living worker keeps
its lease, so no second run starts; and a worker that lost its claim stops,
changing neither the job nor its file.
"""
import json
import logging
import os
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from peewee import DatabaseError, InterfaceError

import importers
from database import is_transient
from database.claims import Lifecycle
from extensions import huey, in_app_context
from importers.csv_log import UNREADABLE_LINE, WEB_FORM, CsvLog, parse_timezone
from importers.jsonl import JsonLines
from importers.rasa import NO_TRACKER_FILES, NOT_A_TRACKER, TrackerFiles
from languages import stored
from languages.formats import ngettext
from languages.stored import N_, StoredText
from models import ImportJob, utcnow

log = logging.getLogger(__name__)

KINDS = {  # kind -> (name, what it is, for the form: templates/admin/import.html says it in the page's language)
    "events": (_l("Events, JSON Lines"), "one event per line, as POST /api/v1/events takes them"),
    "rasa": (_l("Rasa tracker JSON"), "as GET /conversations/<sender_id>/tracker returns it"),
    "csv": (_l("CSV log"), "with the columns mapped below"),
}
SKIPPED_NOUNS = {"events": "line", "rasa": "event", "csv": "row"}  # what the job page calls a skipped item
# ... and how it counts them ("3 lines") and says why they were skipped, in the page's language
SKIPPED_COUNTS = {
    "events": lambda num: ngettext("%(num)s line", "%(num)s lines", num),
    "rasa": lambda num: ngettext("%(num)s event", "%(num)s events", num),
    "csv": lambda num: ngettext("%(num)s row", "%(num)s rows", num),
}
SKIPPED_WHY = {"events": _l("Why lines were skipped"), "rasa": _l("Why events were skipped"), "csv": _l("Why rows were skipped")}
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
JOBS = Lifecycle(
    ImportJob,
    {QUEUED: {RUNNING}, RUNNING: {RUNNING, DONE, FAILED}, DONE: set(), FAILED: set()},  # from -> may move to
    waiting=QUEUED,
    working=RUNNING,
)


# A job's error is stored in English, with no reader in sight; `error_in_words` says it in the page's language.
STOPPED = StoredText(N_("%(reason)s. What was imported before this stays; importing the file again skips it."))
REASONS = (UNREADABLE_LINE, NO_TRACKER_FILES, NOT_A_TRACKER)  # an ImportFailed's, made of values; the others are message ids
DATABASE_ERROR = N_("A database error stopped the import; the worker's log has the details.")
UNEXPECTED_ERROR = N_("The import stopped on an unexpected error; the worker's log has the details.")
UNREADABLE = N_("The file could not be read as a Rasa tracker (the reason is below); nothing was imported from it.")


class ClaimLost(Exception):
    """Another worker took the job over (this one stalled past its lease)."""


def open_source(kind, path, options, file_name):
    """The importer source for a file uploaded as `file_name`; ImportFailed if it cannot be read."""
    if kind == "events":
        return JsonLines(path)
    if kind == "rasa":
        return TrackerFiles(path, shown_as=file_name)
    return CsvLog(path, options["mapping"], options.get("sender_values"), parse_timezone(options.get("timezone")), WEB_FORM)


def run(job_id, config):
    """Import the job's file if this worker may claim the job; then delete the file."""
    lease = timedelta(seconds=config["IMPORT_LEASE"])
    job = JOBS.claim(job_id, lease)
    if job is None:
        return
    if job.attempts > 1:
        log.warning("import job %d lost its worker; importing its file again (attempt %d)", job.id, job.attempts)
    with JOBS.lease_kept(job, lease):
        try:
            _import(job, config, lease)
        except ClaimLost:
            log.warning("import job %d was taken over by another worker; this one stops", job.id)


def _import(job, config, lease):
    def progress(done, total, outcome):
        now = utcnow()
        if not JOBS.record(job, done=done, total=total, updated_at=now, lease_until=now + lease, **_counts(outcome)):
            raise ClaimLost

    try:
        source = open_source(job.kind, job.path, json.loads(job.options), job.file_name)
        progress(0, source.total, importers.Outcome())
        outcome = importers.write_events(job.agent, source, config, on_progress=progress, import_job=job.id)
    except ClaimLost:
        raise
    except importers.ImportFailed as exc:
        _finish(job, FAILED, error=STOPPED.english(reason=exc))
    except (DatabaseError, InterfaceError) as exc:
        if is_transient(exc):
            # The job stays running with its file; its lease lapses and the sweep runs it again.
            log.warning("import job %d: the database could not be reached or was busy; it runs again: %s", job.id, exc)
            return
        _finish(job, FAILED, error=DATABASE_ERROR)
        raise
    except Exception:
        _finish(job, FAILED, error=UNEXPECTED_ERROR)
        raise
    else:
        if getattr(source, "unread", ()):  # the upload is one tracker file; the reasons say why it could not be read
            _finish(job, FAILED, done=source.total, error=UNREADABLE, **_counts(outcome))
        else:
            _finish(job, DONE, done=source.total, **_counts(outcome))


@huey.task()
@in_app_context
def run_import(job_id):
    run(job_id, huey.flask_app.config)


def _counts(outcome):
    return dict(imported=outcome.imported, duplicates=outcome.duplicates, skipped=outcome.skipped, reasons=json.dumps(list(outcome.groups.values())))


def _finish(job, state, **fields):
    """Record the outcome and delete the file, if the job is still ours."""
    if JOBS.move(job, state, finished_at=utcnow(), updated_at=utcnow(), **fields):
        delete_upload(job.path)
    else:
        log.warning("import job %d was taken over by another worker; its outcome stands", job.id)


def delete_upload(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def error_in_words(error):
    """The job's error in the current language; its reason, an ImportFailed's, as well."""
    stopped = STOPPED.read(error)
    if stopped:
        return STOPPED.say(reason=stored.shown(stopped["reason"], REASONS))
    return stored.shown(error)


def where_in_words(where):
    """Where a skipped item was (a line, a file's event, a file), in the current language."""
    return stored.shown(where, (importers.LINE, importers.EVENT), translated=False)


def unattended(pending_ids):
    """(id, state) of the jobs no worker will take up unless queued again: queued
    ones that no queue message names (lost with a queue), and running ones whose
    lease lapsed (their worker died)."""
    query = ImportJob.select(ImportJob.id, ImportJob.state).where((ImportJob.state == QUEUED) | JOBS.lease_lapsed(utcnow()))
    return [(job_id, state) for job_id, state in query.tuples() if job_id not in pending_ids]
