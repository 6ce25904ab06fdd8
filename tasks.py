"""The worker's own duties: recovery at start, its heartbeat, and the sweep.

The queue lives in `extensions`; each task that does a user's work lives with the
code it runs (`export_queue.delivery.process_export_item`, `importers.jobs.run_import`,
`access.password_links.send_link`).
The consumer loads them all through `worker.py`, which imports this module.
"""
import logging
import threading
import time
from datetime import timedelta

from huey import crontab

import models
from access import api_keys
from access import password_links  # noqa: F401 - registers send_link
from alerts.checks import run_checks
from alerts.delivery import send_alert, unsent
from export_queue import upkeep
from export_queue.delivery import process_export_item
from extensions import huey, in_app_context
from importers import jobs as import_jobs
from importers.jobs import run_import
from importers.removal import remove_import, unattended as unattended_removals
from outcomes.recompute import recompute_outcomes, unfinished
from privacy import retention
from subscriptions.sweep import deliver_due

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "slotlens.worker-heartbeat"
HEARTBEAT_EVERY = 15  # seconds between a consumer's signs of life
HEARTBEAT_STALE = 60  # seconds without one after which the worker counts as stopped

@huey.on_startup()
@in_app_context
def recover_on_startup():
    """A worker that starts may be replacing one that died mid-task."""
    _enqueue_orphans(grace=timedelta(0))
    _enqueue_stalled_imports()
    _resume_recomputations()
    _deliver_due_subscriptions()
    run_checks()
    _send_lost_alerts()


@huey.on_startup()
def start_heartbeat():
    """Tell the web app (`/healthz`) that a consumer is alive, through the queue's own storage."""
    if any(thread.name == "slotlens-heartbeat" for thread in threading.enumerate()):
        return  # one per consumer process, however many worker threads it runs

    def beat():
        while True:
            try:
                huey.put(HEARTBEAT_KEY, time.time())
            except Exception:  # noqa: BLE001 - a missed beat shows as a stale heartbeat
                log.warning("could not record the worker heartbeat", exc_info=True)
            time.sleep(HEARTBEAT_EVERY)

    threading.Thread(target=beat, name="slotlens-heartbeat", daemon=True).start()


def last_heartbeat():
    """When a consumer last said it was alive (Unix seconds), or None."""
    return huey.get(HEARTBEAT_KEY, peek=True)


@huey.periodic_task(crontab(minute="*"))
@in_app_context
def sweep():
    """Every minute: expire old links, delete stale files and API keys no page will
    show, recover lost queue messages and stalled imports, and start the scheduled
    reports and alert checks that are due."""
    upkeep.expire_links()
    api_keys.forget_expired()
    _enqueue_orphans(grace=timedelta(seconds=huey.flask_app.config["EXPORT_LEASE"]))
    _enqueue_stalled_imports()
    _deliver_due_subscriptions()
    run_checks()
    _send_lost_alerts()


@huey.periodic_task(crontab(minute="7"))
@in_app_context
def purge_expired_texts():
    """Every hour: remove the texts of dialogs older than TRANSCRIPT_DAYS (if set)."""
    purged = retention.purge_texts(huey.flask_app.config["TRANSCRIPT_DAYS"])
    if purged:
        log.info("removed the texts of %d dialog(s) older than TRANSCRIPT_DAYS", purged)


def waiting_ids(task):
    """The ids (first arguments) of the messages for `task` waiting on the queue or
    scheduled for a retry: export items, import jobs."""
    task_class = task.task_class
    messages = huey.pending() + huey.scheduled()
    return {message.args[0] for message in messages if isinstance(message, task_class)}


def _enqueue_stalled_imports():
    """Imports whose worker died go again (they are idempotent), and queued ones
    whose message was lost get one. A running job whose worker still renews its
    lease is left alone, however slow. A removal asked for more than a lease ago
    and not done goes again too: a second one running beside it waits for its
    transaction and then finds nothing to do."""
    for job_id, state in import_jobs.unattended(waiting_ids(run_import)):
        if state == import_jobs.RUNNING:
            log.warning("import job %d lost its worker (its lease lapsed); queueing it again", job_id)
        run_import(job_id)
    asked_before = models.utcnow() - timedelta(seconds=huey.flask_app.config["IMPORT_LEASE"])
    for job_id in unattended_removals(waiting_ids(remove_import), asked_before):
        log.warning("the removal of import job %d was not done; queueing it again", job_id)
        remove_import(job_id)


def _resume_recomputations():
    """Outcome recomputations a dead worker left go on from where it stopped."""
    waiting = {(message.args[0], message.args[1]) for message in huey.pending() if isinstance(message, recompute_outcomes.task_class)}
    for agent_id, version in unfinished():
        if (agent_id, version) not in waiting:
            recompute_outcomes(agent_id, version)


def _deliver_due_subscriptions():
    """Every worker looks; the database lets one start each due period."""
    config = huey.flask_app.config
    for item in deliver_due(models.utcnow(), config["TIMEZONE"], config["SCHEDULED_MAX_PENDING"]):
        process_export_item(item.id)


def _send_lost_alerts():
    """Alert emails whose queue message was lost (a dead worker) are queued again."""
    waiting = waiting_ids(send_alert)
    for run_id in unsent(models.utcnow()):
        if run_id not in waiting:
            send_alert(run_id)


def _enqueue_orphans(grace):
    orphans = upkeep.to_requeue(upkeep.orphaned_items(grace), waiting_ids(process_export_item))
    if orphans:
        log.warning("re-enqueueing %d export item(s) left behind", len(orphans))
        for item in orphans:
            process_export_item(item.id)
