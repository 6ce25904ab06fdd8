"""The background queue (Huey) and its tasks.

As in Huey's Flask example, the queue and its tasks live at module level, so
code that enqueues imports the task it enqueues. Nothing is read at import
time: `init_app` points the queue at QUEUE_URL and binds the app whose context
every task runs in; the consumer loads it all through `worker.py`.
"""
import functools
import logging
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

import models
from export_queue import delivery, subscriptions, upkeep
from importers import jobs as import_jobs

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "slotlens.worker-heartbeat"
HEARTBEAT_EVERY = 15  # seconds between a consumer's signs of life
HEARTBEAT_STALE = 60  # seconds without one after which the worker counts as stopped

huey = Huey("slotlens", storage_class=MemoryStorage)  # bound to QUEUE_URL by init_app
huey.flask_app = None


def storage_for(url):
    """Huey's storage class and its arguments for `sqlite:////abs/path.db` or `redis://host:port/n`."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SqliteStorage, {"filename": url[len("sqlite:///") :]}
    if scheme in ("redis", "rediss"):
        return RedisStorage, {"url": url}
    raise ValueError(f"QUEUE_URL {url!r}: use sqlite:////abs/path.db or redis://host:port/n")


def init_app(app):
    """Point the queue at the app's QUEUE_URL and run every task in the app's context."""
    huey.storage_class, huey.storage_kwargs = storage_for(app.config["QUEUE_URL"])
    huey.name = app.config["QUEUE_NAME"]
    huey.immediate = app.config["QUEUE_IMMEDIATE"]
    huey.storage = huey.create_storage()
    huey.flask_app = app
    app.extensions["huey"] = huey


def in_app_context(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with huey.flask_app.app_context(), models.connection():
            return func(*args, **kwargs)

    return wrapper


@huey.task()
@in_app_context
def process_export_item(item_id):
    delivery.process_item(item_id)


@huey.task()
@in_app_context
def run_import(job_id):
    import_jobs.run(job_id, huey.flask_app.config)


@huey.on_startup()
@in_app_context
def recover_on_startup():
    """A worker that starts may be replacing one that died mid-task."""
    _enqueue_orphans(grace=timedelta(0))
    _enqueue_stalled_imports()
    _deliver_due_subscriptions()


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
    """Every minute: expire old links, delete stale files, recover lost queue messages
    and stalled imports, and start the scheduled reports that are due."""
    upkeep.expire_links()
    _enqueue_orphans(grace=timedelta(seconds=huey.flask_app.config["EXPORT_LEASE"]))
    _enqueue_stalled_imports()
    _deliver_due_subscriptions()


def waiting_ids(task):
    """The ids (first arguments) of the messages for `task` waiting on the queue or
    scheduled for a retry: export items, import jobs."""
    task_class = task.task_class
    messages = huey.pending() + huey.scheduled()
    return {message.args[0] for message in messages if isinstance(message, task_class)}


def _enqueue_stalled_imports():
    """Imports whose worker died go again (they are idempotent), and queued ones
    whose message was lost get one."""
    stalled = import_jobs.stalled()
    for job_id in import_jobs.waiting(waiting_ids(run_import)):
        if job_id in stalled:
            log.warning("import job %d stopped moving; importing its file again", job_id)
        run_import(job_id)


def _deliver_due_subscriptions():
    """Every worker looks; the database lets one start each due period."""
    for item in subscriptions.deliver_due(models.utcnow(), huey.flask_app.config["TIMEZONE"]):
        process_export_item(item.id)


def _enqueue_orphans(grace):
    orphans = upkeep.to_requeue(upkeep.orphaned_items(grace), waiting_ids(process_export_item))
    if orphans:
        log.warning("re-enqueueing %d export item(s) left behind", len(orphans))
        for item in orphans:
            process_export_item(item.id)
