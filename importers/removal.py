"""`Remove imported data` on an Admin → Import job's page: what the job stored goes,
and the reports are again what they were before it ran.

What a job stored is exactly its events (`Event.import_job`): events it found already
stored were not stored again, so they, and whatever was there before, stay. Each dialog
those events belong to is then either
- gone, when the job's events were all it had (the job created it): the dialog, its
  summary and path rows; or
- kept, when it has other events (it existed before, or events came for it later):
  its summary, path rows and outcome are recomputed from the events it keeps, by the
  same SQL as ingestion's out-of-order path, so it is what those events alone make.
The daily totals take the difference, as ingestion's do, and the agent's traffic
counts lose the job's events in the quarters they were counted in. Slots and
channels the job created stay: they are the agent's catalogue, which a team may
have described since, and a report shows none without dialogs.

One transaction, holding the job's row, then the dialogs' rows in id order, then
the daily totals' and the traffic's rows in key order, then the shared outcomes
lock: the order ingestion takes them in, so on PostgreSQL (READ COMMITTED) a batch
writing to the same dialogs waits for the removal or the removal for it, and each
sees the other's events. Removing twice removes nothing the second time.
"""
import logging

from database import db
from database.bulk import among, chunks
from extensions import huey, in_app_context
from ingest import daily_totals, paths, traffic, writer
from models import Dialog, DialogSlot, DialogStep, Event, ImportJob, ImportTraffic, utcnow

log = logging.getLogger(__name__)


def remove(job_id):
    """Remove what the job imported; returns how many events went, or None if there
    was nothing to do (no such job, or already removed)."""
    with db.atomic():
        job = _held(job_id)
        if job is None or job.removed_at is not None:
            return None
        dialog_ids = sorted(
            pk for (pk,) in Event.select(Event.dialog).where(Event.import_job == job.id).distinct().tuples()
        )
        writer.lock_dialogs(dialog_ids)
        before = daily_totals.contributions(dialog_ids)
        removed = 0
        for part in chunks(dialog_ids):
            removed += Event.delete().where((Event.import_job == job.id) & among(Event.dialog, part)).execute()
        kept = _with_events(dialog_ids)
        gone = [pk for pk in dialog_ids if pk not in kept]
        for part in chunks(gone):
            DialogSlot.delete().where(among(DialogSlot.dialog, part)).execute()
            DialogStep.delete().where(among(DialogStep.dialog, part)).execute()
            Dialog.delete().where(among(Dialog.id, part)).execute()
        for part in chunks(kept):
            paths.refresh_dialog_summaries(part)
            paths.refresh_paths(part)
        daily_totals.apply_change(before, daily_totals.contributions(kept))
        traffic.take_back(job.agent_id, job.id)
        writer.give_outcomes(job.agent, kept)
        ImportJob.update(removed_at=utcnow()).where(ImportJob.id == job.id).execute()
    log.info("import job %d: removed %d events, %d dialogs", job_id, removed, len(gone))
    return removed


def _held(job_id):
    """The finished job, its row held until the transaction ends (two removals queue)."""
    query = ImportJob.select().where((ImportJob.id == job_id) & ImportJob.state.in_(("done", "failed")))
    return (query.for_update() if db.for_update else query).first()


def _with_events(dialog_ids):
    """The dialogs among these (sorted) that still have events, in id order."""
    kept = []
    for part in chunks(dialog_ids):
        query = Event.select(Event.dialog).where(among(Event.dialog, part)).distinct()
        kept += sorted(pk for (pk,) in query.tuples())
    return kept


def known(job):
    """Whether the job's events are marked as its own: a job that stored events before
    version 26 left no mark on them (nor its traffic count, which every later one has)."""
    return job.imported == 0 or ImportTraffic.select().where(ImportTraffic.import_job == job.id).exists()


def ask(job):
    """Record that the job's data is to be removed and queue the removal; False if it
    cannot be (not finished, or its events not `known`) or was removed already."""
    if not job.is_finished or job.removed_at is not None or not known(job):
        return False
    ImportJob.update(removal_asked_at=utcnow()).where((ImportJob.id == job.id) & ImportJob.removal_asked_at.is_null()).execute()
    remove_import(job.id)
    return True


def unattended(pending_ids, older_than):
    """Ids of the jobs whose removal was asked for before `older_than` and is neither
    done nor waiting on the queue: its message or its worker was lost."""
    query = ImportJob.select(ImportJob.id).where(
        ImportJob.removed_at.is_null() & (ImportJob.removal_asked_at < older_than)
    )
    return [job_id for (job_id,) in query.tuples() if job_id not in pending_ids]


@huey.task()
@in_app_context
def remove_import(job_id):
    remove(job_id)
