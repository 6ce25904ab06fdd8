"""The background queue (Huey) and its tasks.

The queue is built from QUEUE_URL inside `create_app`, so nothing is read at
import time; the consumer loads it through `worker.py`. Tasks are thin: each
enters the app context and calls a plain function of `export_queue`.
"""
import functools
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from huey import RedisHuey, SqliteHuey, crontab

import export_queue
import models

log = logging.getLogger(__name__)


def make_huey(url, name="slotlens", immediate=False):
    """A Huey instance for `sqlite:////abs/path.db` or `redis://host:port/n`."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SqliteHuey(name, filename=url[len("sqlite:///") :], immediate=immediate)
    if scheme in ("redis", "rediss"):
        return RedisHuey(name, url=url, immediate=immediate)
    raise ValueError(f"QUEUE_URL {url!r}: use sqlite:////abs/path.db or redis://host:port/n")


def init_app(app):
    """Create the app's queue and register its tasks on it."""
    huey = make_huey(app.config["QUEUE_URL"], app.config["QUEUE_NAME"], immediate=app.config["QUEUE_IMMEDIATE"])

    def in_app_context(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with app.app_context(), models.connection():
                return func(*args, **kwargs)

        return wrapper

    @huey.task()
    @in_app_context
    def process_export_item(item_id):
        export_queue.process_item(item_id)

    @huey.on_startup()
    @in_app_context
    def recover_on_startup():
        """A worker that starts may be replacing one that died mid-task."""
        _enqueue_orphans(grace=timedelta(0))

    @huey.periodic_task(crontab(minute="*"))
    @in_app_context
    def sweep():
        """Every minute: expire old links and recover work whose queue message was lost."""
        export_queue.expire_links()
        _enqueue_orphans(grace=timedelta(seconds=app.config["EXPORT_LEASE"]))

    def _enqueue_orphans(grace):
        orphans = export_queue.to_requeue(export_queue.orphaned_items(grace), len(huey))
        if orphans:
            log.warning("re-enqueueing %d export item(s) left behind", len(orphans))
            for item in orphans:
                process_export_item(item.id)

    app.extensions["huey"] = huey
    app.extensions["slotlens.process_item"] = process_export_item
